# Building on credo: extensions (population kinds, memory modules, tasks, credit algorithms) for your own programs
# and tests, and plugins for the credo program. Included by credo's package config (find_package(credo)) and by
# credo's own build.
#
#   credo_add_extension(<name> <source>...)
#     An object library of self-registering components, linked to credo::credo. Link it into a program or test
#     (target_link_libraries(mytest PRIVATE <name>)) and every CREDO_REGISTER_* line in it takes effect: objects,
#     unlike a static library's members, are never dropped by the linker, so no whole-archive flags are needed.
#
#   credo_add_plugin(<name> <source>...)
#     A shared library lib<name>.so for `credo --plugin lib<name>.so COMMAND ...` (or CREDO_PLUGINS). It is compiled
#     with credo's headers and flags but links none of credo's libraries: at load time it uses the credo program's
#     own framework and registries, so its components appear in list, check, train, compare, align and eval.
#
#   credo_link_whole(<target> <library>...)
#     Links static libraries of self-registering components whole into <target> (the whole-archive flags), for
#     extension libraries made without credo_add_extension.

function(credo_add_extension name)
  add_library(${name} OBJECT ${ARGN})
  target_link_libraries(${name} PUBLIC credo::credo)
endfunction()

function(credo_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  # Usage requirements of credo::framework (include folders, definitions, compile options) without linking it.
  target_include_directories(${name} PRIVATE $<TARGET_PROPERTY:credo::framework,INTERFACE_INCLUDE_DIRECTORIES>)
  target_compile_definitions(${name} PRIVATE $<TARGET_PROPERTY:credo::framework,INTERFACE_COMPILE_DEFINITIONS>)
  target_compile_options(${name} PRIVATE $<TARGET_PROPERTY:credo::framework,INTERFACE_COMPILE_OPTIONS>)
  target_compile_features(${name} PRIVATE cxx_std_20)
  # Header-only and shared dependencies of credo's headers: the plugin shares the program's copies at run time.
  target_link_libraries(${name} PRIVATE Eigen3::Eigen fmt::fmt nlohmann_json::nlohmann_json)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

function(credo_link_whole target)
  foreach(lib ${ARGN})
    target_link_libraries(${target} PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${lib}>")
  endforeach()
endfunction()
