# Per-file ISA flags (faiss "DD" style): the library is compiled for the
# baseline CPU; only files under src/<isa>/ get the wider instruction sets, and
# the runtime dispatcher picks them after checking CPUID.
include(CheckCXXCompilerFlag)
set(VECPRESS_AVX2_FLAGS "")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  check_cxx_compiler_flag("-mavx2 -mfma -mpopcnt -mf16c" VECPRESS_CXX_HAS_AVX2)
  if(VECPRESS_CXX_HAS_AVX2)
    set(VECPRESS_AVX2_FLAGS -mavx2 -mfma -mpopcnt -mf16c)
  endif()
endif()

# vecpress_isa_sources(<target> <ISA> <files...>)
function(vecpress_isa_sources target isa)
  if(isa STREQUAL "AVX2" AND VECPRESS_AVX2_FLAGS)
    target_sources(${target} PRIVATE ${ARGN})
    set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS "${VECPRESS_AVX2_FLAGS}")
    target_compile_definitions(${target} PUBLIC VECPRESS_HAVE_AVX2=1)
  endif()
endfunction()
