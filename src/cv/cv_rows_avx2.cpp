// AVX2 build of the CV row kernels (the source is cv_rows.inc; this file only sets the ISA).
#include "cv/cv_rows.inc"

const scv::cv_rows::Kernels* scv::cv_rows::avx2() {
  return &kTable;
}
