# Included by CMake right after llama.cpp's own project() call (CMAKE_PROJECT_llama.cpp_INCLUDE in
# requirements/llm.env), i.e. after llama-cpp-python's CMakeLists forced LLAMA_BUILD_COMMON on and
# before llama.cpp reads that option. The Python package never loads libllama-common (only
# libllama and libggml*; its own CMakeLists turns common off for WebAssembly the same way), yet
# common/ and its vendored parsers are about 40 % of the compile.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama: build common utils library" FORCE)
