//===- LoomParallelOps.td - Shards and collectives ---------------*- tablegen -*-===//
//
// What a partitioned program needs: the shard a rank binds of a weight, and the
// collectives that exchange tensors between ranks. Included by LoomOps.td before the
// weight op (which takes `#loom.shard`); it uses the `Loom_Op` class there.
//
// A partitioned module holds one function per rank (`@forward_rank0`, ...), each with
// `loom.rank` and `loom.world` attributes; the collectives name the ranks they run
// over, and every rank of a group calls the same collectives in the same order.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_PARALLEL_OPS_TD
#define LOOM_PARALLEL_OPS_TD

def Loom_ShardAttr : Loom_Attr<"Shard", "shard"> {
  let summary = "Which part of a checkpoint tensor a rank binds";
  let description = [{
    The checkpoint tensor is cut into `count` equal parts along `axis`; the weight is part
    `index` (`0 <= index < count`). The weight's type is the part's, so the checkpoint
    tensor's size along `axis` is `count` times the weight's. Ranks that hold the same
    part (KV heads replicated over more ranks than there are heads) have the same index.

    ```mlir
    #loom.shard<axis = 0, index = 1, count = 2>
    ```
  }];
  let parameters = (ins "int64_t":$axis, "int64_t":$index, "int64_t":$count);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

/// A collective or point-to-point op: it exchanges data with other ranks, so it is
/// never removed, merged or moved past another one.
class Loom_CommOp<string mnemonic, list<Trait> traits = []>
    : Op<Loom_Dialect, mnemonic,
         !listconcat([MemoryEffects<[MemRead, MemWrite]>], traits)>;

//===----------------------------------------------------------------------===//
// Collectives over a group of ranks
//===----------------------------------------------------------------------===//

def Loom_AllReduceOp : Loom_CommOp<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "Sum of a tensor over a group of ranks, on every rank of the group";
  let description = [{
    Every rank of `group` contributes a tensor of the same shape and receives their
    elementwise sum. The sum is taken in the order of `group`, so every rank gets the
    same bits. `group` lists distinct ranks; in a function with `loom.rank` and
    `loom.world`, it holds that rank and only ranks below the world size.

    ```mlir
    %y = loom.all_reduce %x group [0, 1] : tensor<?x?x256xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_NumericTensor:$operand, DenseI64ArrayAttr:$group);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat = "$operand `group` $group attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Loom_AllGatherOp : Loom_CommOp<"all_gather",
    [AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Concatenation of every rank's tensor along an axis";
  let description = [{
    The result is the group's tensors concatenated along `axis` in the order of
    `group`, on every rank of it: the size along `axis` is the operand's times the
    group's size (static), the other dimensions are the operand's.

    ```mlir
    %logits = loom.all_gather %part axis 2 group [0, 1]
        : tensor<?x?x1024xf32, #loom.dims<batch, seq>> -> tensor<?x?x2048xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand, I64Attr:$axis, DenseI64ArrayAttr:$group);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat =
      "$operand `axis` $axis `group` $group attr-dict `:` type($operand) `->` type($result)";
  let hasVerifier = 1;
}

def Loom_ReduceScatterOp : Loom_CommOp<"reduce_scatter",
    [AllElementTypesMatch<["operand", "result"]>]> {
  let summary = "Sum over a group of ranks, each rank keeping its part along an axis";
  let description = [{
    The group's tensors are summed (in the order of `group`) and cut into equal parts
    along `axis`; the rank at position `i` of `group` receives part `i`. The operand's
    size along `axis` is static and the group's size times the result's.

    ```mlir
    %part = loom.reduce_scatter %grad axis 0 group [0, 1] : tensor<512x256xf32> -> tensor<256x256xf32>
    ```
  }];
  let arguments = (ins Loom_NumericTensor:$operand, I64Attr:$axis,
                   DenseI64ArrayAttr:$group);
  let results = (outs Loom_NumericTensor:$result);
  let assemblyFormat =
      "$operand `axis` $axis `group` $group attr-dict `:` type($operand) `->` type($result)";
  let hasVerifier = 1;
}

def Loom_BroadcastFromOp : Loom_CommOp<"broadcast_from", [SameOperandsAndResultType]> {
  let summary = "The root rank's tensor, on every rank of a group";
  let description = [{
    Every rank of `group` passes a tensor of the same type (the others' values are not
    read) and receives the tensor of `root`, a member of `group`. (`loom.broadcast` is
    the shape op that stretches a tensor; this one crosses ranks.)

    ```mlir
    %ids = loom.broadcast_from %ids0 root 0 group [0, 1, 2, 3] : tensor<?x1xi64, #loom.dims<batch>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand, I64Attr:$root, DenseI64ArrayAttr:$group);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "$operand `root` $root `group` $group attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Point to point (pipeline stages)
//===----------------------------------------------------------------------===//

def Loom_SendOp : Loom_CommOp<"send"> {
  let summary = "Sends a tensor to another rank";
  let description = [{
    Hands the operand to rank `peer`, whose `loom.recv` with this rank as its peer and
    the same `tag` receives it. A send does not wait for its receive (the transport
    buffers it); messages with the same peer and tag arrive in the order sent. `peer`
    is not the function's own rank.

    ```mlir
    loom.send %h to 1 tag 0 : tensor<?x?x256xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins Loom_Tensor:$operand, I64Attr:$peer, I64Attr:$tag);
  let assemblyFormat = "$operand `to` $peer `tag` $tag attr-dict `:` type($operand)";
  let hasVerifier = 1;
}

def Loom_RecvOp : Loom_CommOp<"recv"> {
  let summary = "Receives a tensor from another rank";
  let description = [{
    Waits for the tensor that rank `peer` sends with `tag`; the tensor must have the
    result's type (named sizes bind as for inputs).

    ```mlir
    %h = loom.recv from 0 tag 0 : tensor<?x?x256xf32, #loom.dims<batch, seq>>
    ```
  }];
  let arguments = (ins I64Attr:$peer, I64Attr:$tag);
  let results = (outs Loom_Tensor:$result);
  let assemblyFormat = "`from` $peer `tag` $tag attr-dict `:` type($result)";
  let hasVerifier = 1;
}

#endif // LOOM_PARALLEL_OPS_TD
