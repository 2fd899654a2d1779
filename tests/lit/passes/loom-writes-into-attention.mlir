// RUN: loom-opt %s -split-input-file -loom-fuse -loom-merge-cache-writes -loom-writes-into-attention | FileCheck %s

// A layer's cache writes join the paged attention that reads them, in its place: the
// attention's inputs, then the writes' (the slots once); the attention's result, then
// the caches.
// CHECK-LABEL: func.func @layer
// CHECK-NOT: loom.kernel scatter
// CHECK: %[[A:.+]]:3 = loom.kernel attention(%arg5, %arg6, %arg7, %arg8, %arg0, %arg2, %arg4, %arg1, %arg3)
// CHECK: %[[K:.+]] = loom.cache_write %arg{{[0-9]+}}, %arg{{[0-9]+}}, %[[S:arg[0-9]+]]
// CHECK-NEXT: %[[V:.+]] = loom.cache_write %arg{{[0-9]+}}, %arg{{[0-9]+}}, %[[S]]
// CHECK-NEXT: %[[O:.+]] = loom.paged_attention %arg{{[0-9]+}}, %[[K]], %[[V]],
// CHECK-NEXT: loom.yield %[[O]], %[[K]], %[[V]]
// CHECK: return %[[A]]#0, %[[A]]#1, %[[A]]#2
func.func @layer(%kc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>,
                 %k: tensor<?x2x64xbf16, #loom.dims<tokens>>, %v: tensor<?x2x64xbf16, #loom.dims<tokens>>,
                 %slots: tensor<?xi64, #loom.dims<tokens>>, %q: tensor<?x8x64xbf16, #loom.dims<tokens>>,
                 %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                 %starts: tensor<?xi64, #loom.dims<seqs>>)
    -> (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>) {
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  %d = loom.cache_write %vc, %v, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  %o = loom.paged_attention %q, %c, %d, %tables, %lens, %starts : (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>) -> tensor<?x8x64xbf16, #loom.dims<tokens>>
  return %o, %c, %d : tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>
}

// -----

// An attention reading the caches as they were before the writes stays apart.
// CHECK-LABEL: func.func @before
// CHECK: loom.kernel attention
// CHECK: loom.kernel scatter
func.func @before(%kc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>, %vc: tensor<?x16x2x64xbf16, #loom.dims<blocks>>,
                  %k: tensor<?x2x64xbf16, #loom.dims<tokens>>, %v: tensor<?x2x64xbf16, #loom.dims<tokens>>,
                  %slots: tensor<?xi64, #loom.dims<tokens>>, %q: tensor<?x8x64xbf16, #loom.dims<tokens>>,
                  %tables: tensor<?x?xi64, #loom.dims<seqs, table>>, %lens: tensor<?xi64, #loom.dims<seqs>>,
                  %starts: tensor<?xi64, #loom.dims<seqs>>)
    -> (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>) {
  %o = loom.paged_attention %q, %kc, %vc, %tables, %lens, %starts : (tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x?xi64, #loom.dims<seqs, table>>, tensor<?xi64, #loom.dims<seqs>>, tensor<?xi64, #loom.dims<seqs>>) -> tensor<?x8x64xbf16, #loom.dims<tokens>>
  %c = loom.cache_write %kc, %k, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  %d = loom.cache_write %vc, %v, %slots : (tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x2x64xbf16, #loom.dims<tokens>>, tensor<?xi64, #loom.dims<tokens>>) -> tensor<?x16x2x64xbf16, #loom.dims<blocks>>
  return %o, %c, %d : tensor<?x8x64xbf16, #loom.dims<tokens>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>, tensor<?x16x2x64xbf16, #loom.dims<blocks>>
}
