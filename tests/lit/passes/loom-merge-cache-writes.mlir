// RUN: loom-opt %s -split-input-file -loom-fuse -loom-merge-cache-writes | FileCheck %s

// A layer's key and value cache writes at the same slots: one scatter kernel updating
// both caches, the slots passed once, in the first kernel's place.
// CHECK-LABEL: func.func @layer
// CHECK: %[[C:.+]]:2 = loom.kernel scatter(%arg0, %arg2, %arg4, %arg1, %arg3)
// CHECK: %[[K:.+]] = loom.cache_write %arg{{[0-9]+}}, %arg{{[0-9]+}}, %[[S:arg[0-9]+]]
// CHECK-NEXT: %[[V:.+]] = loom.cache_write %arg{{[0-9]+}}, %arg{{[0-9]+}}, %[[S]]
// CHECK-NEXT: loom.yield %[[K]], %[[V]]
// CHECK-NOT: loom.kernel scatter
// CHECK: return %[[C]]#0, %[[C]]#1
func.func @layer(%kc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>,
                 %k: tensor<?x2x32xbf16, #loom.dims<tokens>>, %v: tensor<?x2x32xbf16, #loom.dims<tokens>>,
                 %slots: tensor<?xi64, #loom.dims<tokens>>)
    -> (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>) {
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  %d = loom.cache_write %vc, %v, %slots : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  return %c, %d : tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>
}

// -----

// Writes at different slots stay apart.
// CHECK-LABEL: func.func @other_slots
// CHECK: loom.kernel scatter(%arg0, %arg2, %arg4)
// CHECK: loom.kernel scatter(%arg1, %arg3, %arg5)
func.func @other_slots(%kc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>,
                       %k: tensor<?x2x32xbf16, #loom.dims<tokens>>, %v: tensor<?x2x32xbf16, #loom.dims<tokens>>,
                       %s1: tensor<?xi64, #loom.dims<tokens>>, %s2: tensor<?xi64, #loom.dims<tokens>>)
    -> (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>) {
  %c = loom.cache_write %kc, %k, %s1 : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  %d = loom.cache_write %vc, %v, %s2 : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  return %c, %d : tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>
}

// -----

// The second write's rows come from the first cache (through attention): it cannot
// move to the first write's place, so the two stay apart.
// CHECK-LABEL: func.func @dependent
// CHECK: loom.kernel scatter(%arg0, %arg2, %arg4)
// CHECK: loom.kernel attention
// CHECK: loom.kernel scatter(%arg1,
func.func @dependent(%kc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x32xbf16, #loom.dims<blocks>>,
                     %k: tensor<?x2x32xbf16, #loom.dims<tokens>>, %q: tensor<?x2x32xbf16, #loom.dims<tokens>>,
                     %slots: tensor<?xi64, #loom.dims<tokens>>,
                     %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                     %starts: tensor<?xi64, #loom.dims<seqs>>)
    -> (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>) {
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  %o = loom.paged_attention %q, %c, %c, %tables, %lens, %starts scale 1.250000e-01 : (tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>) -> tensor<?x2x32xbf16, #loom.dims<tokens>>
  %d = loom.cache_write %vc, %o, %slots : (tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x2x32xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x32xbf16, #loom.dims<blocks>>
  return %c, %d : tensor<?x16x2x32xbf16, #loom.dims<blocks>>, tensor<?x16x2x32xbf16, #loom.dims<blocks>>
}
