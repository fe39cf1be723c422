# Writes OUT, a C++ header holding the bytes of IN as `constexpr std::string_view NAME`.
# Run at build time (cmake -P) so that editing IN rebuilds only what includes OUT.
file(READ "${IN}" content)
set(delim "FANOUT_EMBED")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )${delim}\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by coordinator/embed_file.cmake: do not edit.\n#pragma once\n#include <string_view>\nnamespace fanout {\ninline constexpr std::string_view ${NAME} = R\"${delim}(${content})${delim}\";\n}  // namespace fanout\n")
file(RENAME "${OUT}.tmp" "${OUT}")
