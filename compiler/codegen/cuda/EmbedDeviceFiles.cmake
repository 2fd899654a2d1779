# Writes the device files (compiler/codegen/cuda/device/*.cuh) as C++ initializers for
# DeviceLibrary.cpp. Run at build time by compiler/CMakeLists.txt:
#
#   cmake -DDEVICE_DIR=<device/> -DFILES=<a.cuh,b.cuh,...> -DOUTPUT=<DeviceFiles.inc>
#         -P EmbedDeviceFiles.cmake
#
# Each file becomes `{"name.cuh", <first line>, R"loom_device(<text>)loom_device"},` in
# the order given, where <text> is the file less its header block (the `//===-` line at
# the top through the next `//===-` line, newline included), which documents the file
# for its reader only, and <first line> is the line of the .cuh that <text> starts on
# (for #line directives). The output is rewritten only when it changes.

if(NOT DEVICE_DIR OR NOT FILES OR NOT OUTPUT)
  message(FATAL_ERROR "EmbedDeviceFiles.cmake needs DEVICE_DIR, FILES and OUTPUT")
endif()

set(delimiter "loom_device")
set(content "// Generated from compiler/codegen/cuda/device/ by EmbedDeviceFiles.cmake; do not edit.\n")
string(REPLACE "," ";" files "${FILES}")
foreach(name IN LISTS files)
  file(READ "${DEVICE_DIR}/${name}" text)
  # The header block: the first line opens it, the next line starting `//===-` closes it.
  string(FIND "${text}" "//===-" open)
  if(NOT open EQUAL 0)
    message(FATAL_ERROR "${name}: a device file starts with its `//===- name.cuh - ...` header")
  endif()
  string(SUBSTRING "${text}" 6 -1 rest)
  string(FIND "${rest}" "\n//===-" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "${name}: the header block has no closing `//===---===//` line")
  endif()
  math(EXPR close "${close} + 7")
  string(SUBSTRING "${rest}" ${close} -1 rest)
  string(FIND "${rest}" "\n" end)
  if(end EQUAL -1)
    message(FATAL_ERROR "${name}: nothing follows the header block")
  endif()
  math(EXPR end "${end} + 1")
  string(SUBSTRING "${rest}" ${end} -1 body)
  # The body's first line: one past the header's lines.
  string(LENGTH "${text}" total)
  string(LENGTH "${body}" kept)
  math(EXPR headerLength "${total} - ${kept}")
  string(SUBSTRING "${text}" 0 ${headerLength} header)
  string(REGEX MATCHALL "\n" newlines "${header}")
  list(LENGTH newlines headerLines)
  math(EXPR firstLine "${headerLines} + 1")
  string(FIND "${body}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${name}: the text holds `)${delimiter}\"`, which ends the raw string")
  endif()
  string(APPEND content "{\"${name}\", ${firstLine}, R\"${delimiter}(${body})${delimiter}\"},\n")
endforeach()

file(WRITE "${OUTPUT}.tmp" "${content}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
