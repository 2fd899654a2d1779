//===- Symbols.h - Entry points of libraries loaded with dlopen --*- C++ -*-===//

#ifndef LOOM_RUNTIME_SYMBOLS_H
#define LOOM_RUNTIME_SYMBOLS_H

#include <dlfcn.h>
#include <string>

namespace loom::rt {

/// Resolves `symbol` of `library` into `slot`; the first missing symbol is recorded in
/// `error` as "<owner> has no symbol <symbol><hint>".
template <typename Fn>
void resolveSymbol(void *library, const char *symbol, Fn &slot, std::string &error,
                   const char *owner, const char *hint = "") {
  slot = reinterpret_cast<Fn>(dlsym(library, symbol));
  if (!slot && error.empty())
    error = std::string(owner) + " has no symbol " + symbol + hint;
}

} // namespace loom::rt

#endif // LOOM_RUNTIME_SYMBOLS_H
