// OpenBLAS's C interface (Debian: libopenblas-dev). Only cblas_?gemm is used.
#pragma once
#include <cblas.h>
