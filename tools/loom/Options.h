//===- Options.h - The option parser every `loom` command uses ----*- C++ -*-===//
//
// Each command declares its options with a type and a range; the parser refuses any
// value that does not parse whole ("1e12" as an integer, "abc", "nan" where a number
// must be finite) with a message naming the option, so a typo never runs as 0.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_OPTIONS_H
#define LOOM_TOOLS_LOOM_OPTIONS_H

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace loom::cli {

/// `text` as a base-10 integer in [min, max]; false with `error` otherwise.
bool parseInteger(const std::string &text, int64_t min, int64_t max, int64_t &value,
                  std::string &error);
/// `text` as a finite number in [min, max]; false with `error` otherwise.
bool parseNumber(const std::string &text, double min, double max, double &value,
                 std::string &error);

/// Declared options of one command and the parse of its arguments.
class OptionParser {
public:
  /// `command` prefixes messages ("loom generate"); `usage` is printed for --help and
  /// after a misuse.
  OptionParser(std::string command, std::string usage);

  /// `names` is one name or several separated by '|' ("-o|--output").
  OptionParser &text(const std::string &names, std::string &out, bool *seen = nullptr);
  /// An option that may repeat; each value is appended.
  OptionParser &list(const std::string &names, std::vector<std::string> &out);
  OptionParser &flag(const std::string &names, bool &out);
  OptionParser &integer(const std::string &names, int64_t &out, int64_t min,
                        int64_t max = std::numeric_limits<int64_t>::max());
  OptionParser &integer(const std::string &names, int &out, int min,
                        int max = std::numeric_limits<int>::max());
  OptionParser &seed(const std::string &names, uint64_t &out);
  OptionParser &number(const std::string &names, double &out, double min, double max);
  OptionParser &number(const std::string &names, float &out, double min, double max);
  /// Options parsed elsewhere: `take` consumes argv[i] (and its value, advancing i)
  /// and returns 1, returns 0 when argv[i] is not its option, or -1 with `error` set.
  using Taker = std::function<int(int argc, char **argv, int &i, std::string &error)>;
  OptionParser &custom(Taker take);
  /// The next argument that is not an option; `what` names it in messages.
  OptionParser &positional(const std::string &what, std::string &out, bool required);

  /// Parses `argv`. Returns -1 when the command should go on, else its exit code:
  /// 0 after --help, 2 after a misuse (the message is printed).
  int parse(int argc, char **argv);
  /// Prints "<command>: <message>" and the usage to stderr; returns 2.
  int misuse(const std::string &message) const;

private:
  using Setter = std::function<bool(const std::string &value, std::string &error)>;
  struct Option {
    std::vector<std::string> names;
    bool takesValue;
    Setter set;
  };
  struct Positional {
    std::string what;
    std::string *out;
    bool required;
  };
  OptionParser &add(const std::string &names, bool takesValue, Setter set);

  std::string command_, usage_;
  std::vector<Option> options_;
  std::vector<Taker> takers_;
  std::vector<Positional> positionals_;
};

} // namespace loom::cli

#endif // LOOM_TOOLS_LOOM_OPTIONS_H
