# Finds LLVM/MLIR 22 and sets up TableGen and the flags the compiler half builds with.
# Everything links the shared libMLIR.so (target `MLIR`), never the static MLIR libraries:
# mixing the two registers passes and options twice.
if(NOT MLIR_DIR AND EXISTS /usr/lib/llvm-22/lib/cmake/mlir)
  set(MLIR_DIR /usr/lib/llvm-22/lib/cmake/mlir)
endif()
find_package(MLIR REQUIRED CONFIG)
if(LLVM_VERSION_MAJOR VERSION_LESS 22)
  message(FATAL_ERROR "Loom needs LLVM/MLIR 22 or newer; found ${LLVM_PACKAGE_VERSION} at ${MLIR_DIR}")
endif()
message(STATUS "Using MLIR ${LLVM_PACKAGE_VERSION} from ${MLIR_DIR}")

list(APPEND CMAKE_MODULE_PATH ${MLIR_CMAKE_DIR} ${LLVM_CMAKE_DIR})
set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_RUNTIME_OUTPUT_DIRECTORY})
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
set(MLIR_BINARY_DIR ${PROJECT_BINARY_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)

if(NOT LLVM_EXTERNAL_LIT)
  find_program(LLVM_EXTERNAL_LIT NAMES lit llvm-lit HINTS ${LLVM_TOOLS_BINARY_DIR} REQUIRED)
endif()

# Debian's LLVM_DEFINITIONS is one string; split it or -D flags arrive mangled.
separate_arguments(LOOM_LLVM_DEFINITIONS NATIVE_COMMAND "${LLVM_DEFINITIONS}")

# Flags for every target that includes MLIR headers: LLVM builds without RTTI/exceptions.
add_library(loom_mlir_flags INTERFACE)
target_include_directories(loom_mlir_flags SYSTEM INTERFACE
  ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
target_include_directories(loom_mlir_flags INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
target_compile_definitions(loom_mlir_flags INTERFACE ${LOOM_LLVM_DEFINITIONS})
target_compile_options(loom_mlir_flags INTERFACE -fno-rtti -fno-exceptions)
target_link_directories(loom_mlir_flags INTERFACE ${LLVM_LIBRARY_DIRS})
target_link_libraries(loom_mlir_flags INTERFACE MLIR LLVM)

# mlir-tblgen writes generated .inc files next to the .td's relative path in the build tree.
set(LLVM_TABLEGEN_EXE ${MLIR_TABLEGEN_EXE})

# The ONNX importer parses models with the protobuf classes Debian's libonnx-dev ships
# (onnx-ml.pb.h, libonnx_proto); ONNX's CMake package needs protobuf found first.
find_package(Protobuf REQUIRED)
find_package(ONNX REQUIRED)

# Tests write small ONNX models as protobuf text and encode them with protoc.
find_program(LOOM_PROTOC protoc REQUIRED)
find_file(LOOM_ONNX_PROTO onnx/onnx.proto PATHS /usr/include REQUIRED)
