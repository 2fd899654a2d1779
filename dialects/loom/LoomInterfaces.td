//===- LoomInterfaces.td - Interfaces of the loom ops ------------*- tablegen -*-===//
//
// The gradient rule of an op, which loom-autodiff calls instead of switching over op
// names: an op that can be differentiated says how, next to its definition.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_INTERFACES_TD
#define LOOM_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Loom_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::loom";
  let description = [{
    An op whose operands have a gradient rule for reverse-mode differentiation
    (`loom-autodiff`). Given the gradients of the loss with respect to the op's results,
    the rule builds ops computing the gradients with respect to its operands. Ops with no
    operand that a gradient can flow to (constants, iota, weights) implement it too and
    build nothing.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds, at `builder`'s insertion point, the gradient of each operand `i` for which
        `needed[i]` is true, into `operandGradients[i]` (resized to the operand count;
        entries left null have no gradient: integer operands, or not needed).
        `resultGradients[r]` has the type of result `r`, or is null where no gradient
        flows into that result (then it counts as zeros). Each gradient has the type of
        its operand. Returns failure, after an error on the op, for a case the rule
        does not handle.
      }],
      "::llvm::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGradients,
           "::llvm::ArrayRef<bool>":$needed,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGradients)>
  ];
}

#endif // LOOM_INTERFACES_TD
