// Input of artifact.test: a dimension with no name cannot be sized by the runtime, so
// loom compile must fail cleanly.
func.func @forward(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %s = loom.softmax %x axis 1 : tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}
