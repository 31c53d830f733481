# Built by scripts/build-native.js (through npm's node-gyp); that script sets LIBTORCH_INCLUDE and
# LIBTORCH_LIB after checking that libtorch is installed, and DISTILLERY_BUILD_C10D=0 when Gloo (libgloo-dev) is
# absent: distillery_c10d (the process group for distributed runs, src/process_group.cc) is then skipped, and
# DISTILLERY_DNNL=1 when oneDNN 2.x's headers and library (libdnnl-dev) are there: bf16 convolutions with float32
# results straight on oneDNN (src/bf16_conv.cc); without it they take ATen's path.
{
  "targets": [
    {
      "target_name": "distillery_libtorch",
      "sources": ["src/addon.cc", "src/bf16_conv.cc"],
      "conditions": [
        ["'<!(node -p \"process.env.DISTILLERY_DNNL || '0'\")'=='1'", {
          "defines": ["DISTILLERY_DNNL=1"],
          "libraries": ["-ldnnl"]
        }]
      ],
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
    },
    {
      "target_name": "distillery_c10d",
      "conditions": [
        ["'<!(node -p \"process.env.DISTILLERY_BUILD_C10D || '1'\")'=='1'", {
          "sources": ["src/process_group.cc"],
          "include_dirs": [
            "<!(node -p \"require('node-addon-api').include_dir\")",
            "<!(node -p \"process.env.LIBTORCH_INCLUDE || '/usr/include'\")"
          ],
          "libraries": [
            "-L<!(node -p \"process.env.LIBTORCH_LIB || '/usr/lib/x86_64-linux-gnu'\")",
            "-Wl,-rpath,<!(node -p \"process.env.LIBTORCH_LIB || '/usr/lib/x86_64-linux-gnu'\")",
            "-ltorch_cpu",
            "-lc10",
            "-lgloo"
          ],
          "defines": ["NAPI_VERSION=8", "USE_C10D_GLOO", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
          "cflags!": ["-fno-exceptions", "-fno-rtti"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
          "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
