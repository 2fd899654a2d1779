// The device files (compiler/codegen/cuda/device/*.cuh) are what kernels.cu holds
// ahead of its kernels: each file's text after its header block, once, in the order of
// LOOM_DEVICE_FILES. An f32 module gets prelude.cuh alone; a bf16 one (the same module
// with its types replaced) also the 16-bit float headers, tensor_core.cuh and wgmma.cuh.
// The files that moved from the emitter's strings are placed bare (no #line). Both
// compile with NVRTC for sm_80 and sm_90a.
// RUN: loom-opt %s -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.f32.cu
// RUN: %python %S/Inputs/device_files.py %loom_src/compiler/codegen/cuda/device %t.f32.cu prelude.cuh
// RUN: FileCheck %s --check-prefix=F32 < %t.f32.cu
// RUN: sed 's/f32/bf16/g' %s | loom-opt -loom-fuse -loom-choose-tiles | loom-translate --loom-to-cuda > %t.bf16.cu
// RUN: %python %S/Inputs/device_files.py %loom_src/compiler/codegen/cuda/device %t.bf16.cu --float16-headers prelude.cuh tensor_core.cuh wgmma.cuh
// RUN: FileCheck %s --check-prefix=BF16 < %t.bf16.cu
// RUN: loom cuda-compile %t.f32.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC
// RUN: loom cuda-compile %t.bf16.cu --arch sm_80,sm_90a | FileCheck %s --check-prefix=NVRTC

// NVRTC: sm_80: 1 kernels
// NVRTC: sm_90a: 1 kernels

// A comment of prelude.cuh's text, once; its header block is not placed.
// F32-NOT: #include
// F32-NOT: prelude.cuh - Helpers every Loom kernel may use
// F32: /// Programmatic dependent launch (sm_90 on)
// F32-NOT: loom_cp_async16_at
// F32-NOT: #line
// F32: //@loom-kernel loom_pointwise_
// F32-NOT: /// Programmatic dependent launch

// BF16: #include <cuda_fp16.h>
// BF16: /// Programmatic dependent launch (sm_90 on)
// BF16: /// Two floats as the packed 16-bit pair an mma operand register holds
// BF16: /// Keeps the compiler from moving accumulator reads or writes across a multiply.
// BF16-NOT: #line
// BF16: //@loom-kernel loom_pointwise_
// BF16-NOT: /// Programmatic dependent launch

func.func @forward(%x: tensor<?x32xf32, #loom.dims<rows>>) -> tensor<?x32xf32, #loom.dims<rows>> {
  %e = loom.exp %x : tensor<?x32xf32, #loom.dims<rows>>
  return %e : tensor<?x32xf32, #loom.dims<rows>>
}
