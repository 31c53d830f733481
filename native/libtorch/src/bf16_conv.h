// bf16 convolutions with float32 results, straight on oneDNN (issue 17).
//
// ATen's bf16 convolutions write a bf16 result, which the addon then had to widen to float32 for TF.js:
// one more pass over every output (a quarter of the bf16 step's non-convolution time on the reference
// UNet). oneDNN itself computes bf16 products into float32 accumulators and can write those as float32,
// so these three entry points ask it for float32 results directly: the forward convolution (with its
// float32 bias), the input gradient and the filter gradient. Operands arrive already in bf16 (the
// addon's `lowp` copies, reused across the forward and both gradients); results are float32 tensors in
// TF.js's layouts (NHWC data, [kh, kw, in, out] filters), so nothing is permuted or copied afterwards.
//
// Compiled only when oneDNN's headers were found at build time (DISTILLERY_DNNL=1, Debian: libdnnl-dev);
// otherwise `available()` is false and the addon keeps ATen's bf16 path.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

namespace bf16conv {

// Geometry in TF.js terms: stride and dilation (≥ 1) per spatial dimension, padding as
// [top, bottom, left, right] (asymmetric padding is native to oneDNN: no padded copies).
struct Geometry {
  std::array<int64_t, 2> stride, dilation;
  std::array<int64_t, 4> pad;
};

// Compiled with oneDNN.
bool available();

// Every entry point returns an undefined tensor where oneDNN offers only its reference (unoptimised)
// implementation for the case; the caller then takes ATen's path.

// x: bf16 NHWC contiguous; w: bf16 [kh, kw, in, out] contiguous; bias: float32 [out] or undefined.
// Result: float32 NHWC.
at::Tensor forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const Geometry& g);

// dy: bf16 NHWC contiguous; w: bf16 [kh, kw, in, out]; inShape: the input's NHWC shape.
// Result: float32 NHWC of inShape.
at::Tensor backwardData(const at::Tensor& dy, const at::Tensor& w, at::IntArrayRef inShape, const Geometry& g);

// x, dy: bf16 NHWC contiguous; filterShape: [kh, kw, in, out]. Result: float32 [kh, kw, in, out].
at::Tensor backwardFilter(const at::Tensor& x, const at::Tensor& dy, at::IntArrayRef filterShape, const Geometry& g);

// The oneDNN implementations chosen so far ("fwd 32x32x64->64 s1: brgconv:avx512_core_bf16", …), for
// the bench's diagnostics.
std::string implementations();

}  // namespace bf16conv
