//===- Options.cpp - The option parser every `loom` command uses -----------===//

#include "Options.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace loom::cli {

bool parseInteger(const std::string &text, int64_t min, int64_t max, int64_t &value,
                  std::string &error) {
  // strtoll skips leading spaces and stops at the first non-digit; require the whole.
  bool digits = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) ||
                                  ((text[0] == '-' || text[0] == '+') && text.size() > 1 &&
                                   std::isdigit(static_cast<unsigned char>(text[1]))));
  char *end = nullptr;
  errno = 0;
  long long parsed = digits ? std::strtoll(text.c_str(), &end, 10) : 0;
  if (!digits || *end != '\0') {
    error = "'" + text + "' is not an integer";
    return false;
  }
  if (errno == ERANGE || parsed < min || parsed > max) {
    error = "'" + text + "' is out of range (" + std::to_string(min) + " to " +
            std::to_string(max) + ")";
    return false;
  }
  value = parsed;
  return true;
}

bool parseNumber(const std::string &text, double min, double max, double &value,
                 std::string &error) {
  bool starts = !text.empty() && !std::isspace(static_cast<unsigned char>(text[0]));
  char *end = nullptr;
  errno = 0;
  double parsed = starts ? std::strtod(text.c_str(), &end) : 0;
  if (!starts || *end != '\0') {
    error = "'" + text + "' is not a number";
    return false;
  }
  if (!std::isfinite(parsed) || errno == ERANGE) {
    error = "'" + text + "' is not a finite number";
    return false;
  }
  if (parsed < min || parsed > max) {
    std::ostringstream range;
    range << min << " to " << max;
    error = "'" + text + "' is out of range (" + range.str() + ")";
    return false;
  }
  value = parsed;
  return true;
}

OptionParser::OptionParser(std::string command, std::string usage)
    : command_(std::move(command)), usage_(std::move(usage)) {}

OptionParser &OptionParser::add(const std::string &names, bool takesValue, Setter set) {
  Option option{{}, takesValue, std::move(set)};
  std::stringstream list(names);
  for (std::string name; std::getline(list, name, '|');)
    option.names.push_back(name);
  options_.push_back(std::move(option));
  return *this;
}

OptionParser &OptionParser::text(const std::string &names, std::string &out,
                                 bool *seen) {
  return add(names, true, [&out, seen](const std::string &value, std::string &) {
    out = value;
    if (seen)
      *seen = true;
    return true;
  });
}

OptionParser &OptionParser::list(const std::string &names,
                                 std::vector<std::string> &out) {
  return add(names, true, [&out](const std::string &value, std::string &) {
    out.push_back(value);
    return true;
  });
}

OptionParser &OptionParser::flag(const std::string &names, bool &out) {
  return add(names, false, [&out](const std::string &, std::string &) {
    out = true;
    return true;
  });
}

OptionParser &OptionParser::integer(const std::string &names, int64_t &out, int64_t min,
                                    int64_t max) {
  return add(names, true, [&out, min, max](const std::string &value, std::string &error) {
    return parseInteger(value, min, max, out, error);
  });
}

OptionParser &OptionParser::integer(const std::string &names, int &out, int min,
                                    int max) {
  return add(names, true, [&out, min, max](const std::string &value, std::string &error) {
    int64_t parsed = 0;
    if (!parseInteger(value, min, max, parsed, error))
      return false;
    out = static_cast<int>(parsed);
    return true;
  });
}

OptionParser &OptionParser::seed(const std::string &names, uint64_t &out) {
  return add(names, true, [&out](const std::string &value, std::string &error) {
    int64_t parsed = 0;
    if (!parseInteger(value, 0, std::numeric_limits<int64_t>::max(), parsed, error))
      return false;
    out = static_cast<uint64_t>(parsed);
    return true;
  });
}

OptionParser &OptionParser::number(const std::string &names, double &out, double min,
                                   double max) {
  return add(names, true, [&out, min, max](const std::string &value, std::string &error) {
    return parseNumber(value, min, max, out, error);
  });
}

OptionParser &OptionParser::number(const std::string &names, float &out, double min,
                                   double max) {
  return add(names, true, [&out, min, max](const std::string &value, std::string &error) {
    double parsed = 0;
    if (!parseNumber(value, min, max, parsed, error))
      return false;
    out = static_cast<float>(parsed);
    return true;
  });
}

OptionParser &OptionParser::custom(Taker take) {
  takers_.push_back(std::move(take));
  return *this;
}

OptionParser &OptionParser::positional(const std::string &what, std::string &out,
                                       bool required) {
  positionals_.push_back({what, &out, required});
  return *this;
}

int OptionParser::misuse(const std::string &message) const {
  std::fprintf(stderr, "%s: %s\n%s", command_.c_str(), message.c_str(), usage_.c_str());
  return 2;
}

int OptionParser::parse(int argc, char **argv) {
  size_t nextPositional = 0;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage_.c_str(), stdout);
      return 0;
    }
    const Option *found = nullptr;
    for (const Option &option : options_)
      for (const std::string &name : option.names)
        if (name == arg)
          found = &option;
    std::string error;
    if (found) {
      if (found->takesValue && i + 1 >= argc)
        return misuse(arg + " needs a value");
      std::string value = found->takesValue ? argv[++i] : "";
      if (!found->set(value, error))
        return misuse(arg + ": " + error);
      continue;
    }
    int taken = 0;
    for (const Taker &take : takers_)
      if (!taken)
        taken = take(argc, argv, i, error);
    if (taken < 0)
      return misuse(arg + ": " + error);
    if (taken)
      continue;
    if (arg.size() > 1 && arg[0] == '-')
      return misuse("unknown option '" + arg + "'");
    if (nextPositional == positionals_.size())
      return misuse("unexpected argument '" + arg + "'");
    *positionals_[nextPositional++].out = arg;
  }
  for (size_t k = nextPositional; k < positionals_.size(); ++k)
    if (positionals_[k].required)
      return misuse("missing " + positionals_[k].what);
  return -1;
}

} // namespace loom::cli
