// ElfSymbols: reads a shared library's dynamic symbol table, to find what would keep it
// from ever being unloaded.
//
// glibc never unmaps a library that defines STB_GNU_UNIQUE symbols (GCC emits them for
// static data of inline functions and templates unless built with -fno-gnu-unique): its
// dlclose() is then a no-op, and every replacement of the plugin would keep a whole copy
// of the old one in memory. The loader warns about such a library, naming a symbol.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace microserver::core {

// Up to `max` names of STB_GNU_UNIQUE symbols the ELF file defines; empty if none, or if
// the file cannot be read as a 64-bit ELF shared library (dlopen says why, not this).
std::vector<std::string> gnuUniqueSymbols(const std::string& file, std::size_t max = 3);

}  // namespace microserver::core
