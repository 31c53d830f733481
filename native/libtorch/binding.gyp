# Built by scripts/build-native.js (through npm's node-gyp); that script sets LIBTORCH_INCLUDE and
# LIBTORCH_LIB after checking that libtorch is installed.
{
  "targets": [
    {
      "target_name": "distillery_libtorch",
      "sources": ["src/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"process.env.LIBTORCH_INCLUDE || '/usr/include'\")"
      ],
      "libraries": [
        "-L<!(node -p \"process.env.LIBTORCH_LIB || '/usr/lib/x86_64-linux-gnu'\")",
        "-Wl,-rpath,<!(node -p \"process.env.LIBTORCH_LIB || '/usr/lib/x86_64-linux-gnu'\")",
        "-ltorch_cpu",
        "-lc10",
        "-fopenmp"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O3", "-fno-trapping-math", "-fopenmp", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
