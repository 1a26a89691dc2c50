# microserver_add_plugin(<name> SOURCES <files...> [LIBRARIES <targets...>] [OUTPUT_DIRECTORY <dir>])
#
# Builds lib<name>.so, a microserver plugin: a MODULE library against the SDK headers
# (target microserver::sdk), with only its entry point exported, and no undefined
# symbols allowed (a plugin that needs a library must say so, or dlopen fails later).
# With GCC it adds -fno-gnu-unique: GCC otherwise marks static data of inline functions
# and templates STB_GNU_UNIQUE, and glibc never unloads a library that has such symbols,
# so every replacement of the plugin would keep its old copy in memory (the server warns
# about a library built without it). Keep thread_local objects with destructors out of
# plugins for the same reason: glibc keeps such a library loaded until the thread exits.
# Inside the microserver tree it lands in the server's plugin folder; elsewhere in
# OUTPUT_DIRECTORY, or ${CMAKE_BINARY_DIR}/plugins.
function(microserver_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "microserver_add_plugin(${name}): give its sources with SOURCES a.cpp b.cpp ...")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set(out ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED MICROSERVER_PLUGIN_DIR)
    set(out ${MICROSERVER_PLUGIN_DIR})
  else()
    set(out ${CMAKE_BINARY_DIR}/plugins)
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE microserver::sdk ${ARG_LIBRARIES})
  target_compile_features(${name} PRIVATE cxx_std_17)
  target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${out})
endfunction()
