//===- Commands.h - Subcommands of the `loom` CLI ------------------*- C++ -*-===//

#ifndef LOOM_TOOLS_LOOM_COMMANDS_H
#define LOOM_TOOLS_LOOM_COMMANDS_H

namespace loom::cli {

/// `loom import`; `argv` starts after the subcommand name. Returns the exit code.
int runImport(int argc, char **argv);
/// `loom reference`: runs a model on the CPU reference executor.
int runReference(int argc, char **argv);
/// `loom generate`: text generation from a prompt.
int runGenerate(int argc, char **argv);

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_COMMANDS_H
