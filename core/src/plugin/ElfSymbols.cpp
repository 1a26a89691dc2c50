// ElfSymbols: see ElfSymbols.h.
#include "plugin/ElfSymbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace microserver::core {

namespace {
// A read-only mapping of a whole file, unmapped on scope exit.
struct Mapping {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  explicit Mapping(const std::string& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        data = static_cast<const unsigned char*>(p);
        size = static_cast<std::size_t>(st.st_size);
      }
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<unsigned char*>(data), size);
  }
  // [offset, offset + length) lies inside the file.
  bool holds(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size && length <= size - offset;
  }
};
}  // namespace

std::vector<std::string> gnuUniqueSymbols(const std::string& file, std::size_t max) {
  std::vector<std::string> names;
  Mapping m(file);
  if (!m.data || !m.holds(0, sizeof(Elf64_Ehdr))) return names;
  Elf64_Ehdr header;
  std::memcpy(&header, m.data, sizeof header);
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_shentsize != sizeof(Elf64_Shdr) || !m.holds(header.e_shoff, std::uint64_t(header.e_shnum) * sizeof(Elf64_Shdr)))
    return names;
  auto section = [&](std::size_t i) {
    Elf64_Shdr s;
    std::memcpy(&s, m.data + header.e_shoff + i * sizeof(Elf64_Shdr), sizeof s);
    return s;
  };
  for (std::size_t i = 0; i < header.e_shnum && names.size() < max; ++i) {
    Elf64_Shdr symbols = section(i);
    if (symbols.sh_type != SHT_DYNSYM || symbols.sh_entsize != sizeof(Elf64_Sym) || symbols.sh_link >= header.e_shnum ||
        !m.holds(symbols.sh_offset, symbols.sh_size))
      continue;
    Elf64_Shdr strings = section(symbols.sh_link);
    if (!m.holds(strings.sh_offset, strings.sh_size)) continue;
    for (std::size_t j = 0; j < symbols.sh_size / sizeof(Elf64_Sym) && names.size() < max; ++j) {
      Elf64_Sym symbol;
      std::memcpy(&symbol, m.data + symbols.sh_offset + j * sizeof(Elf64_Sym), sizeof symbol);
      if (ELF64_ST_BIND(symbol.st_info) != STB_GNU_UNIQUE || symbol.st_shndx == SHN_UNDEF) continue;
      if (symbol.st_name >= strings.sh_size) continue;
      const char* name = reinterpret_cast<const char*>(m.data + strings.sh_offset + symbol.st_name);
      names.emplace_back(name, ::strnlen(name, strings.sh_size - symbol.st_name));
    }
  }
  return names;
}

}  // namespace microserver::core
