{
  # One addon. ISA-specific kernels carry per-function target attributes
  # (core/maxsim_avx2.cc, core/maxsim_avx512.cc), so nothing is built for the build host's own CPU and the
  # .node loads on any x86-64; core/cpu_features.cc picks the kernel at run time.
  "targets": [
    {
      "target_name": "lemur",
      "sources": [
        "core/cpu_features.cc",
        "core/xxhash64.cc",
        "core/maxsim_scalar.cc",
        "core/maxsim_avx2.cc",
        "core/maxsim_avx512.cc",
        "core/maxsim_dispatch.cc",
        "core/maxsim_ops.cc",
        "core/token_store.cc",
        "core/token_store_writer.cc",
        "core/psi.cc",
        "core/row_ops.cc",
        "core/psi_trainer.cc",
        "core/ols.cc",
        "core/fixed_order_gemm.cc",
        "core/hnsw_build.cc",
        "core/row_codec.cc",
        "core/ip_index.cc",
        "core/mapped_file.cc",
        "core/faiss_index_file.cc",
        "core/hnsw_search.cc",
        "core/mapped_ip_index.cc",
        "addon/js_errors.cc",
        "addon/token_store_binding.cc",
        "addon/maxsim_binding.cc",
        "addon/model_binding.cc",
        "addon/psi_binding.cc",
        "addon/ip_index_binding.cc",
        "addon/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/x86_64-linux-gnu/openblas-pthread"
      ],
      # libfaiss-dev ships only a static library; it needs OpenMP (-fopenmp at compile and
      # link time), BLAS and LAPACK.
      "libraries": ["/usr/lib/x86_64-linux-gnu/libfaiss.a", "-lopenblas", "-llapacke", "-llapack"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags": ["-O3", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-fopenmp"],
      "ldflags": ["-pthread", "-fopenmp"]
    }
  ]
}
