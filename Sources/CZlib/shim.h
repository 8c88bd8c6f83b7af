// zlib, to read gzipped IDX files (MNIST ships as .gz).
#pragma once
#include <zlib.h>
