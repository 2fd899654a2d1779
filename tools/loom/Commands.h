//===- Commands.h - Subcommands of the `loom` CLI ------------------*- C++ -*-===//

#ifndef LOOM_TOOLS_LOOM_COMMANDS_H
#define LOOM_TOOLS_LOOM_COMMANDS_H

#include <string>

namespace loom::cli {

/// Writes `text` to `path` through a temporary file and a rename, so a failure never
/// leaves a half-written output behind.
bool writeAtomically(const std::string &path, const std::string &text, std::string &error);

/// `loom import`; `argv` starts after the subcommand name. Returns the exit code.
int runImport(int argc, char **argv);
/// `loom reference`: runs a model on the CPU reference executor.
int runReference(int argc, char **argv);
/// `loom optimize`: runs pass pipelines, optionally checking numerics after each pass.
int runOptimize(int argc, char **argv);
/// `loom generate`: text generation from a prompt.
int runGenerate(int argc, char **argv);

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_COMMANDS_H
