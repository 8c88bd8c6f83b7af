// OpenBLAS's C interface (Debian: libopenblas-dev): Scalar.swift calls cblas_?gemm, cblas_?gemv,
// cblas_?axpy and openblas_get_corename / openblas_get_num_threads / openblas_get_config.
#pragma once
#include <cblas.h>
