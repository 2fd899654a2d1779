# lit configuration for Loom's FileCheck tests (dialect, passes, codegen).
import os
import sys

import lit.formats
from lit.llvm import llvm_config

config.name = "Loom"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.loom_obj_root, "tests", "lit")
config.excludes = ["CMakeLists.txt", "Inputs", "lit.cfg.py", "lit.site.cfg.py"]

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["loom-opt", "loom-translate", "loom"], [config.loom_tools_dir, config.llvm_tools_dir])
config.substitutions.append(("%loom_src", config.loom_src_root))
config.substitutions.append(("%shared", config.loom_shared_dir))
config.substitutions.append(("%python", sys.executable))
# %onnx-encode < model.textproto > model.onnx
config.substitutions.append(
    ("%onnx-encode", "%s --encode=onnx.ModelProto -I%s %s" % (
        config.loom_protoc, os.path.dirname(config.loom_onnx_proto), config.loom_onnx_proto)))
# The `loom` binary by path, for commands run through `sh -c` (exit-code checks).
config.substitutions.append(("%loom_bin", os.path.join(config.loom_tools_dir, "loom")))
if os.path.exists("/dev/full"):
    config.available_features.add("dev-full")
