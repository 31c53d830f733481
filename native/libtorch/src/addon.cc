// Distillery's native libtorch backend: ATen tensors behind integer handles, one N-API function per
// primitive. The TypeScript side (src/backends/libtorch/) maps TF.js kernels onto these primitives.
//
// Conventions
// - A handle is an index into `slots`; freed handles are reused. Every primitive that makes a tensor
//   stores it, writes [dtype, rank, dims...] into the shared Int32Array `meta`, and returns the handle,
//   so that JS learns the output shape without allocating.
// - Tensors keep TF.js's logical layout (NHWC images, [kh, kw, in, out] filters, row-major). A stored
//   tensor may be a strided view; `toData` makes it contiguous when it is read.
// - Stored tensors are never modified in place: TF.js treats tensor data as immutable and several
//   handles may share one storage (views).
// - All calls must come from one OS thread (the JS main thread): libtorch's thread count and
//   inference mode are thread-local.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <functional>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bf16_conv.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Handle table and metadata channel

std::vector<at::Tensor> slots;
std::vector<int32_t> freeSlots;
int64_t liveCount = 0;
int32_t* meta = nullptr;  // points into a JS Int32Array kept alive by metaRef
constexpr int kMetaLength = 2 + 16;
Napi::Reference<Napi::Int32Array> metaRef;

enum DType : int32_t { kF32 = 0, kI32 = 1, kBool = 2 };

at::ScalarType scalarTypeOf(int32_t code) {
  switch (code) {
    case kF32: return at::kFloat;
    case kI32: return at::kInt;
    case kBool: return at::kBool;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int32_t codeOf(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return kF32;
    case at::kInt: return kI32;
    case at::kBool: return kBool;
    default: return -1;
  }
}

// TF.js knows float32, int32 and bool; ATen sometimes answers in int64 or float64.
at::Tensor normalize(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kInt:
    case at::kBool:
      return t;
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16:
      return t.to(at::kFloat);
    default:
      return t.to(at::kInt);
  }
}

void writeMeta(const at::Tensor& t) {
  if (t.dim() > kMetaLength - 2) throw std::invalid_argument("tensor rank " + std::to_string(t.dim()) + " exceeds 16");
  meta[0] = codeOf(t.scalar_type());
  meta[1] = static_cast<int32_t>(t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) meta[2 + i] = static_cast<int32_t>(t.size(i));
}

int32_t store(const at::Tensor& raw) {
  at::Tensor t = normalize(raw);
  int32_t id;
  if (!freeSlots.empty()) {
    id = freeSlots.back();
    freeSlots.pop_back();
    slots[id] = t;
  } else {
    id = static_cast<int32_t>(slots.size());
    slots.push_back(t);
  }
  ++liveCount;
  writeMeta(t);
  return id;
}

const at::Tensor& get(const Napi::Value& v) {
  int64_t id = v.As<Napi::Number>().Int64Value();
  if (id < 0 || id >= static_cast<int64_t>(slots.size()) || !slots[id].defined()) {
    throw std::invalid_argument("invalid tensor handle " + std::to_string(id));
  }
  return slots[id];
}

std::vector<int64_t> ints(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

std::vector<at::Tensor> tensors(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(get(a.Get(i)));
  return out;
}

int64_t num(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
double dbl(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
bool flag(const Napi::Value& v) { return v.As<Napi::Boolean>().Value(); }

Napi::Value ret(Napi::Env env, const at::Tensor& t) { return Napi::Number::New(env, store(t)); }

Napi::Value retMany(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, store(ts[i])));
  return out;
}

at::Tensor longIndex(const at::Tensor& t) { return t.scalar_type() == at::kLong ? t : t.to(at::kLong); }

// An index list passed from JS as an Int32Array.
at::Tensor indexFromArray(const Napi::Value& v) {
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  at::Tensor idx = at::empty({static_cast<int64_t>(a.ElementLength())}, at::kLong);
  int64_t* p = idx.data_ptr<int64_t>();
  for (size_t i = 0; i < a.ElementLength(); ++i) p[i] = a[i];
  return idx;
}

// Wraps a primitive so that libtorch's errors reach JS as exceptions with a short message (c10::Error's
// what() carries a C++ backtrace that means nothing to a TF.js user).
using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

// Time spent inside the addon's functions (all on the JS thread), for profiles that separate native
// work from TF.js's per-call cost. Two clock reads per call (~40 ns).
double nativeMs = 0.0;

struct NativeTimer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  ~NativeTimer() { nativeMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(); }
};

template <Fn F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  NativeTimer timer;
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    size_t cut = msg.find("\nException raised from");
    if (cut != std::string::npos) msg = msg.substr(0, cut);
    throw Napi::Error::New(info.Env(), msg);
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor memory. A training step frees and re-requests the same large buffer sizes every step; with
// glibc's malloc alone the heap fragments and keeps growing (brk) while fresh pages fault in: ~3,500
// page faults per reference-UNet step, their kernel time inside the parallel loops that first write
// the outputs. Blocks of at least kCacheMinBytes are kept on free lists by exact size and handed out
// again, warm; smaller ones go straight to malloc. The cache holds at most `cacheLimit` bytes
// (DISTILLERY_TENSOR_CACHE_MB; default 2048 MiB or an eighth of physical memory, whichever is less);
// beyond that freed blocks return to malloc.

constexpr size_t kCacheMinBytes = 64 * 1024;
constexpr size_t kAlignment = 64;  // c10's alignment for CPU tensors

class CachingCpuAllocator final : public c10::Allocator {
 public:
  CachingCpuAllocator() {
    const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && pageSize > 0) {
      cacheLimit_ = std::min(cacheLimit_, static_cast<size_t>(pages) * static_cast<size_t>(pageSize) / 8);
    }
    const char* env = std::getenv("DISTILLERY_TENSOR_CACHE_MB");
    if (env && *env) cacheLimit_ = static_cast<size_t>(std::max(0.0, std::atof(env)) * 1024.0 * 1024.0);
  }

  c10::DataPtr allocate(size_t n) const override {
    void* p = const_cast<CachingCpuAllocator*>(this)->take(n);
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  static CachingCpuAllocator& instance() {
    static CachingCpuAllocator* a = new CachingCpuAllocator();  // never destroyed: tensors may outlive statics
    return *a;
  }

  // Returns every cached block to malloc.
  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& kv : free_) {
      for (void* p : kv.second) std::free(p);
    }
    free_.clear();
    cachedBytes_ = 0;
  }

  size_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cachedBytes_;
  }

 private:
  static size_t roundUp(size_t n) { return n < kCacheMinBytes ? n : (n + 4095) / 4096 * 4096; }

  void* take(size_t n) {
    const size_t size = roundUp(std::max<size_t>(n, 1));
    if (size >= kCacheMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cachedBytes_ -= size;
        sizes_[p] = size;
        return p;
      }
    }
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, size) != 0 || p == nullptr) {
      throw std::runtime_error("libtorch backend: out of memory allocating " + std::to_string(size) + " bytes");
    }
    if (size >= kCacheMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[p] = size;
    }
    return p;
  }

  static void release(void* p) {
    if (p == nullptr) return;
    CachingCpuAllocator& a = instance();
    {
      std::lock_guard<std::mutex> lock(a.mutex_);
      auto it = a.sizes_.find(p);
      if (it != a.sizes_.end()) {
        const size_t size = it->second;
        a.sizes_.erase(it);
        if (a.cachedBytes_ + size <= a.cacheLimit_) {
          a.free_[size].push_back(p);
          a.cachedBytes_ += size;
          return;
        }
      }
    }
    std::free(p);
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // cached blocks by size
  std::unordered_map<void*, size_t> sizes_;               // sizes of the live large blocks
  size_t cachedBytes_ = 0;
  size_t cacheLimit_ = static_cast<size_t>(2048) * 1024 * 1024;
};

// ---------------------------------------------------------------------------------------------
// Storage

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Int32Array m = info[0].As<Napi::Int32Array>();
  if (m.ElementLength() < static_cast<size_t>(kMetaLength)) throw std::invalid_argument("meta buffer too short");
  metaRef = Napi::Persistent(m);
  meta = m.Data();
  // Tensors of up to 32 MiB come from the heap and freed memory stays there for the next step, instead of
  // each allocation being a fresh mmap whose pages fault in again (measured: a batch-32 GroupNorm forward
  // went from 27 to 10 ms CPU). glibc's own adaptive threshold is off in Node. Explicit MALLOC_* settings win.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_") && !std::getenv("MALLOC_TRIM_THRESHOLD_")) {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  }
  c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/1);
  // Autograd is TF.js's job; inference mode skips libtorch's autograd bookkeeping on every call.
  static c10::InferenceMode* inferenceMode = new c10::InferenceMode(true);
  (void)inferenceMode;
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(static_cast<int>(num(info[0])));
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value NativeMs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nativeMs); }

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

Napi::Value ParallelInfo(const Napi::CallbackInfo& info) {
  std::string s = at::get_parallel_info();
  return Napi::String::New(info.Env(), s);
}

Napi::Value Config(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), at::show_config()); }

Napi::Value Live(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(liveCount)); }

Napi::Value Free(const Napi::CallbackInfo& info) {
  int64_t id = num(info[0]);
  if (id < 0 || id >= static_cast<int64_t>(slots.size()) || !slots[id].defined()) {
    throw std::invalid_argument("free: invalid tensor handle " + std::to_string(id));
  }
  slots[id] = at::Tensor();
  freeSlots.push_back(static_cast<int32_t>(id));
  --liveCount;
  return info.Env().Undefined();
}

void clearLowpCache();  // bf16 autocast, below

Napi::Value FreeAll(const Napi::CallbackInfo& info) {
  slots.clear();
  freeSlots.clear();
  liveCount = 0;
  clearLowpCache();
  CachingCpuAllocator::instance().empty();
  return info.Env().Undefined();
}

// Bytes held by the tensor-memory cache (freed tensors' blocks kept for reuse).
Napi::Value CachedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CachingCpuAllocator::instance().cachedBytes()));
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  CachingCpuAllocator::instance().empty();
  return info.Env().Undefined();
}

Napi::Value Describe(const Napi::CallbackInfo& info) {
  writeMeta(get(info[0]));
  return info[0];
}

// strides(h): the element strides of the stored tensor (diagnostics: a non-contiguous layout is slower).
Napi::Value Strides(const Napi::CallbackInfo& info) {
  const at::Tensor& t = get(info[0]);
  Napi::Array out = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.stride(i))));
  return out;
}

// fromData(typedArray, shape, dtype): copies the values into a new tensor of that dtype.
Napi::Value FromData(const Napi::CallbackInfo& info) {
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = ints(info[1]);
  at::ScalarType target = scalarTypeOf(static_cast<int32_t>(num(info[2])));
  at::ScalarType source;
  switch (a.TypedArrayType()) {
    case napi_float32_array: source = at::kFloat; break;
    case napi_float64_array: source = at::kDouble; break;
    case napi_int32_array: source = at::kInt; break;
    case napi_uint8_array:
    case napi_uint8_clamped_array: source = at::kByte; break;
    case napi_int8_array: source = at::kChar; break;
    case napi_int16_array: source = at::kShort; break;
    default: throw std::invalid_argument("unsupported typed array type for tensor data");
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (static_cast<int64_t>(a.ElementLength()) != n) {
    throw std::invalid_argument("data has " + std::to_string(a.ElementLength()) + " values but the shape needs " + std::to_string(n));
  }
  uint8_t* base = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  at::Tensor view = at::from_blob(base, shape, at::TensorOptions().dtype(source));
  at::Tensor t = source == target ? view.clone() : view.to(target);
  return ret(info.Env(), t);
}

Napi::Value ToData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = get(info[0]).contiguous();
  size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case at::kFloat: {
      Napi::Float32Array out = Napi::Float32Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr<float>(), n * sizeof(float));
      return out;
    }
    case at::kInt: {
      Napi::Int32Array out = Napi::Int32Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr<int32_t>(), n * sizeof(int32_t));
      return out;
    }
    case at::kBool: {
      Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
      if (n) std::memcpy(out.Data(), t.data_ptr<bool>(), n);
      return out;
    }
    default:
      throw std::invalid_argument("cannot read a tensor of type " + std::string(c10::toString(t.scalar_type())));
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise

const char* const kUnaryOps[] = {
    "identity", "neg", "abs", "sign", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square", "reciprocal",
    "sigmoid", "tanh", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "relu", "relu6", "elu", "selu", "erf", "softplus", "floor", "ceil", "round", "isnan", "isinf", "isfinite",
    "logicalnot", "step", "leakyrelu", "clip", "contiguous"};

at::Tensor unaryOp(int code, const at::Tensor& x, double a, double b) {
  switch (code) {
    case 0: return x.alias();
    case 1: return at::neg(x);
    case 2: return at::abs(x);
    case 3: return at::sign(x);
    case 4: return at::exp(x);
    case 5: return at::expm1(x);
    case 6: return at::log(x);
    case 7: return at::log1p(x);
    case 8: return at::sqrt(x);
    case 9: return at::rsqrt(x);
    case 10: return at::square(x);
    case 11: return at::reciprocal(x);
    case 12: return at::sigmoid(x);
    case 13: return at::tanh(x);
    case 14: return at::sin(x);
    case 15: return at::cos(x);
    case 16: return at::tan(x);
    case 17: return at::asin(x);
    case 18: return at::acos(x);
    case 19: return at::atan(x);
    case 20: return at::sinh(x);
    case 21: return at::cosh(x);
    case 22: return at::asinh(x);
    case 23: return at::acosh(x);
    case 24: return at::atanh(x);
    case 25: return at::relu(x);
    case 26: return at::hardtanh(x, 0, 6);
    case 27: return at::elu(x);
    case 28: return at::selu(x);
    case 29: return at::erf(x);
    case 30: return at::softplus(x);
    case 31: return at::floor(x);
    case 32: return at::ceil(x);
    case 33: return at::round(x);
    case 34: return at::isnan(x);
    case 35: return at::isinf(x);
    case 36: return at::isfinite(x);
    case 37: return at::logical_not(x);
    case 38: {
      // TF's step: 1 where x > 0, alpha elsewhere, NaN stays NaN.
      at::Tensor one = at::ones({}, x.options());
      at::Tensor alpha = at::full({}, a, x.options());
      at::Tensor y = at::where(x > 0, one, alpha);
      return x.is_floating_point() ? at::where(at::isnan(x), x, y) : y;
    }
    case 39: return at::leaky_relu(x, a);
    case 40: return at::clamp(x, a, b);
    case 41: return x.contiguous();
  }
  throw std::invalid_argument("unknown unary op code " + std::to_string(code));
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  int code = static_cast<int>(num(info[0]));
  double a = info.Length() > 2 ? dbl(info[2]) : 0.0;
  double b = info.Length() > 3 ? dbl(info[3]) : 0.0;
  return ret(info.Env(), unaryOp(code, get(info[1]), a, b));
}

const char* const kBinaryOps[] = {
    "add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum", "minimum", "squareddifference", "atan2",
    "equal", "notequal", "less", "lessequal", "greater", "greaterequal", "logicaland", "logicalor", "logicalxor",
    "prelu", "elugrad"};

at::Tensor binaryOp(int code, const at::Tensor& a, const at::Tensor& b) {
  switch (code) {
    case 0: return at::add(a, b);
    case 1: return at::sub(a, b);
    case 2: return at::mul(a, b);
    case 3: return at::div(a, b);
    case 4: return at::div(a, b, "floor");
    case 5: return at::remainder(a, b);
    case 6: return at::pow(a, b);
    case 7: return at::maximum(a, b);
    case 8: return at::minimum(a, b);
    case 9: { at::Tensor d = at::sub(a, b); return at::mul(d, d); }
    case 10: return at::atan2(a, b);
    case 11: return at::eq(a, b);
    case 12: return at::ne(a, b);
    case 13: return at::lt(a, b);
    case 14: return at::le(a, b);
    case 15: return at::gt(a, b);
    case 16: return at::ge(a, b);
    case 17: return at::logical_and(a, b);
    case 18: return at::logical_or(a, b);
    case 19: return at::logical_xor(a, b);
    case 20: return at::where(a < 0, a * b, a);  // prelu(x, alpha)
    case 21: return at::where(b < 0, a * (b + 1), a);  // eluGrad(dy, y)
  }
  throw std::invalid_argument("unknown binary op code " + std::to_string(code));
}

// ATen's element-wise loops are several times slower when the innermost dimension is broadcast (e.g.
// x [N, HW, G, Cg] - mean [N, 1, G, 1], as in a GroupNorm composed of TF.js ops): a small operand
// whose last dimension is broadcast is materialised along that dimension first (measured 3.8 -> 1.0 ms
// on a [32, 1024, 8, 12] tensor).
at::Tensor innerBroadcast(const at::Tensor& small, const at::Tensor& big) {
  if (small.dim() == 0 || small.dim() > big.dim() || small.numel() * 16 > big.numel()) return small;
  int64_t last = big.size(-1);
  if (small.size(-1) != 1 || last <= 1) return small;
  std::vector<int64_t> shape = small.sizes().vec();
  shape.back() = last;
  return small.expand(shape).contiguous();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  at::Tensor a = get(info[1]), b = get(info[2]);
  if (!a.sizes().equals(b.sizes())) {
    if (a.numel() < b.numel()) a = innerBroadcast(a, b);
    else b = innerBroadcast(b, a);
  }
  return ret(info.Env(), binaryOp(static_cast<int>(num(info[0])), a, b));
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  at::ScalarType t = scalarTypeOf(static_cast<int32_t>(num(info[1])));
  // TF.js truncates toward zero when casting float to int32, as ATen does.
  return ret(info.Env(), x.scalar_type() == t ? x.alias() : x.to(t));
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  at::Tensor c = get(info[0]);
  if (c.scalar_type() != at::kBool) c = c.to(at::kBool);
  return ret(info.Env(), at::where(c, get(info[1]), get(info[2])));
}

// ---------------------------------------------------------------------------------------------
// Shapes and movement

Napi::Value Reshape(const Napi::CallbackInfo& info) { return ret(info.Env(), get(info[0]).reshape(ints(info[1]))); }
Napi::Value Permute(const Napi::CallbackInfo& info) { return ret(info.Env(), get(info[0]).permute(ints(info[1]))); }
Napi::Value Expand(const Napi::CallbackInfo& info) { return ret(info.Env(), get(info[0]).expand(ints(info[1]))); }
Napi::Value Flip(const Napi::CallbackInfo& info) { return ret(info.Env(), at::flip(get(info[0]), ints(info[1]))); }
Napi::Value Repeat(const Napi::CallbackInfo& info) { return ret(info.Env(), get(info[0]).repeat(ints(info[1]))); }

// stridedSlice(x, begin[], stride[], size[]): per dimension, `size` elements starting at `begin`
// with step `stride` (negative steps walk backwards).
Napi::Value StridedSlice(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]);
  std::vector<int64_t> begin = ints(info[1]), stride = ints(info[2]), size = ints(info[3]);
  for (int64_t d = 0; d < static_cast<int64_t>(begin.size()); ++d) {
    int64_t n = x.size(d), b = begin[d], s = stride[d], k = size[d];
    if (k == 0) { x = x.narrow(d, 0, 0); continue; }
    if (s == 1 && b == 0 && k == n) continue;
    if (s > 0) {
      x = x.slice(d, b, b + (k - 1) * s + 1, s);
    } else {
      x = at::flip(x, {d}).slice(d, n - 1 - b, n - 1 - b + (k - 1) * (-s) + 1, -s);
    }
  }
  return ret(info.Env(), x);
}

Napi::Value Concat(const Napi::CallbackInfo& info) { return ret(info.Env(), at::cat(tensors(info[0]), num(info[1]))); }
Napi::Value Stack(const Napi::CallbackInfo& info) { return ret(info.Env(), at::stack(tensors(info[0]), num(info[1]))); }
Napi::Value Unbind(const Napi::CallbackInfo& info) { return retMany(info.Env(), get(info[0]).unbind(num(info[1]))); }

Napi::Value Split(const Napi::CallbackInfo& info) {
  return retMany(info.Env(), get(info[0]).split_with_sizes(ints(info[1]), num(info[2])));
}

// pad(x, pads[] as [before0, after0, before1, after1, ...] in dimension order, value)
Napi::Value Pad(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  std::vector<int64_t> p = ints(info[1]);
  std::vector<int64_t> torchPads;  // last dimension first
  for (int64_t d = static_cast<int64_t>(p.size() / 2) - 1; d >= 0; --d) {
    torchPads.push_back(p[2 * d]);
    torchPads.push_back(p[2 * d + 1]);
  }
  return ret(info.Env(), at::constant_pad_nd(x, torchPads, dbl(info[2])));
}

Napi::Value Full(const Napi::CallbackInfo& info) {
  return ret(info.Env(), at::full(ints(info[0]), dbl(info[1]), at::TensorOptions().dtype(scalarTypeOf(static_cast<int32_t>(num(info[2]))))));
}

// take(x, axis, Int32Array indices): index_select with host-computed indices (resize, mirror pad).
Napi::Value Take(const Napi::CallbackInfo& info) {
  return ret(info.Env(), get(info[0]).index_select(num(info[1]), indexFromArray(info[2])));
}

// takeAdjoint(g, axis, Int32Array indices, size): the adjoint of take (scatter-add into `size` rows).
Napi::Value TakeAdjoint(const Napi::CallbackInfo& info) {
  const at::Tensor& g = get(info[0]);
  int64_t axis = num(info[1]);
  std::vector<int64_t> shape = g.sizes().vec();
  shape[axis] = num(info[3]);
  at::Tensor out = at::zeros(shape, g.options());
  out.index_add_(axis, indexFromArray(info[2]), g);
  return ret(info.Env(), out);
}

// gather(x, indices, axis, batchDims): TF GatherV2.
Napi::Value Gather(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  at::Tensor idx = longIndex(get(info[1]));
  int64_t axis = num(info[2]), batchDims = num(info[3]);
  std::vector<int64_t> outShape;
  for (int64_t d = 0; d < axis; ++d) outShape.push_back(x.size(d));
  for (int64_t d = batchDims; d < idx.dim(); ++d) outShape.push_back(idx.size(d));
  for (int64_t d = axis + 1; d < x.dim(); ++d) outShape.push_back(x.size(d));
  if (batchDims == 0) {
    return ret(info.Env(), x.index_select(axis, idx.reshape({-1})).reshape(outShape));
  }
  int64_t batch = 1, outer = 1, inner = 1;
  for (int64_t d = 0; d < batchDims; ++d) batch *= x.size(d);
  for (int64_t d = batchDims; d < axis; ++d) outer *= x.size(d);
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  at::Tensor x4 = x.reshape({batch, outer, x.size(axis), inner});
  at::Tensor i2 = idx.reshape({batch, -1});
  int64_t k = i2.size(1);
  at::Tensor i4 = i2.reshape({batch, 1, k, 1}).expand({batch, outer, k, inner});
  return ret(info.Env(), at::gather(x4, 2, i4).reshape(outShape));
}

// Flat row numbers for GatherNd / ScatterNd: indices [..., K] into the first K dims of `shape`.
at::Tensor flatRows(const at::Tensor& indices, at::IntArrayRef shape, int64_t* sliceSize) {
  int64_t k = indices.size(-1);
  at::Tensor idx = longIndex(indices).reshape({-1, k});
  std::vector<int64_t> strides(k);
  int64_t s = 1;
  for (int64_t d = k - 1; d >= 0; --d) { strides[d] = s; s *= shape[d]; }
  at::Tensor st = at::tensor(strides, at::kLong);
  *sliceSize = 1;
  for (size_t d = k; d < shape.size(); ++d) *sliceSize *= shape[d];
  return (idx * st).sum(1);
}

Napi::Value GatherNd(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  const at::Tensor& indices = get(info[1]);
  int64_t slice;
  at::Tensor rows = flatRows(indices, x.sizes(), &slice);
  std::vector<int64_t> outShape(indices.sizes().begin(), indices.sizes().end() - 1);
  for (int64_t d = indices.size(-1); d < x.dim(); ++d) outShape.push_back(x.size(d));
  return ret(info.Env(), x.reshape({-1, slice}).index_select(0, rows).reshape(outShape));
}

// scatterNd(indices, updates, shape): sums duplicate indices (as TF does).
Napi::Value ScatterNd(const Napi::CallbackInfo& info) {
  const at::Tensor& indices = get(info[0]);
  const at::Tensor& updates = get(info[1]);
  std::vector<int64_t> shape = ints(info[2]);
  int64_t slice;
  at::Tensor rows = flatRows(indices, shape, &slice);
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  at::Tensor out = at::zeros({total / std::max<int64_t>(slice, 1), slice}, updates.options());
  out.index_add_(0, rows, updates.reshape({-1, slice}));
  return ret(info.Env(), out.reshape(shape));
}

// tensorScatterUpdate(tensor, indices, updates): replaces rows (last write wins).
Napi::Value TensorScatterUpdate(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  const at::Tensor& indices = get(info[1]);
  const at::Tensor& updates = get(info[2]);
  int64_t slice;
  at::Tensor rows = flatRows(indices, x.sizes(), &slice);
  at::Tensor out = x.reshape({-1, slice}).clone();
  out.index_copy_(0, rows, updates.reshape({-1, slice}));
  return ret(info.Env(), out.reshape(x.sizes()));
}

// unsortedSegmentSum(x, segmentIds, numSegments): ids outside [0, numSegments) are dropped (as TF).
Napi::Value SegmentSum(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  at::Tensor ids = longIndex(get(info[1])).reshape({-1});
  int64_t n = num(info[2]);
  int64_t rows = ids.size(0);
  std::vector<int64_t> outShape{n};
  int64_t inner = 1;
  for (int64_t d = get(info[1]).dim(); d < x.dim(); ++d) { outShape.push_back(x.size(d)); inner *= x.size(d); }
  at::Tensor src = x.reshape({rows, inner});
  at::Tensor valid = (ids >= 0).logical_and(ids < n);
  if (!valid.all().item<bool>()) {
    at::Tensor keep = valid.nonzero().reshape({-1});
    src = src.index_select(0, keep);
    ids = ids.index_select(0, keep);
  }
  at::ScalarType accType = x.scalar_type() == at::kBool ? at::kInt : x.scalar_type();
  at::Tensor out = at::zeros({n, inner}, x.options().dtype(accType));
  out.index_add_(0, ids, src.to(accType));
  return ret(info.Env(), out.reshape(outShape));
}

Napi::Value OneHot(const Napi::CallbackInfo& info) {
  at::Tensor idx = longIndex(get(info[0]));
  int64_t depth = num(info[1]);
  double on = dbl(info[2]), off = dbl(info[3]);
  at::ScalarType t = scalarTypeOf(static_cast<int32_t>(num(info[4])));
  at::Tensor hit = idx.unsqueeze(-1) == at::arange(depth, at::kLong);
  at::TensorOptions o = at::TensorOptions().dtype(t);
  return ret(info.Env(), at::where(hit, at::full({}, on, o), at::full({}, off, o)));
}

// ---------------------------------------------------------------------------------------------
// Reductions and scans

const char* const kReduceOps[] = {"sum", "mean", "max", "min", "prod", "all", "any"};

// Contiguous runs of reduced axes, outer runs first: ATen reduces [32, 1024, 8, 12] over (1, 3) in
// 2.45 ms but over 1 and then 3 in 0.55 ms (the outer reduction keeps a contiguous inner loop).
std::vector<std::vector<int64_t>> axisRuns(std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) if (a < 0) a += rank;
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  std::vector<std::vector<int64_t>> runs;
  for (int64_t a : axes) {
    if (runs.empty() || runs.back().back() + 1 != a) runs.push_back({});
    runs.back().push_back(a);
  }
  return runs;
}

at::Tensor reduceRun(int code, const at::Tensor& x, const std::vector<int64_t>& run) {
  switch (code) {
    case 0: case 1: return x.sum(run, true);
    case 2: return at::amax(x, run, true);
    case 3: return at::amin(x, run, true);
    case 4: { at::Tensor y = x; for (int64_t a : run) y = y.prod(a, true); return y; }
    case 5: { at::Tensor y = x; for (int64_t a : run) y = y.all(a, true); return y; }
    case 6: { at::Tensor y = x; for (int64_t a : run) y = y.any(a, true); return y; }
  }
  throw std::invalid_argument("unknown reduce op code " + std::to_string(code));
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  int code = static_cast<int>(num(info[0]));
  const at::Tensor& x = get(info[1]);
  std::vector<int64_t> axes = ints(info[2]);
  bool keep = flag(info[3]);
  if (axes.empty()) return ret(info.Env(), x.alias());
  std::vector<std::vector<int64_t>> runs = axisRuns(axes, x.dim());
  at::Tensor y = (code == 5 || code == 6) && x.scalar_type() != at::kBool ? x.to(at::kBool) : x;
  double count = 1;
  for (const auto& run : runs) for (int64_t a : run) count *= static_cast<double>(x.size(a));
  if (code == 1 && !y.is_floating_point()) y = y.to(at::kFloat);
  if (code == 0 && y.scalar_type() == at::kBool) y = y.to(at::kInt);
  for (const auto& run : runs) y = reduceRun(code, y, run);
  if (code == 1) y = y / count;
  if (!keep) {
    std::vector<int64_t> all;
    for (const auto& run : runs) all.insert(all.end(), run.begin(), run.end());
    std::vector<int64_t> shape;
    for (int64_t d = 0; d < y.dim(); ++d) if (std::find(all.begin(), all.end(), d) == all.end()) shape.push_back(y.size(d));
    y = y.reshape(shape);
  }
  return ret(info.Env(), y);
}

Napi::Value ArgReduce(const Napi::CallbackInfo& info) {
  bool isMax = flag(info[0]);
  const at::Tensor& x = get(info[1]);
  int64_t axis = num(info[2]);
  return ret(info.Env(), isMax ? x.argmax(axis) : x.argmin(axis));
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  int64_t dim = num(info[1]);
  return ret(info.Env(), flag(info[2]) ? at::log_softmax(x, dim) : at::softmax(x, dim));
}

// scan(isProd, x, axis, exclusive, reverse)
Napi::Value Scan(const Napi::CallbackInfo& info) {
  bool isProd = flag(info[0]);
  at::Tensor x = get(info[1]);
  int64_t axis = num(info[2]);
  bool exclusive = flag(info[3]), reverse = flag(info[4]);
  if (x.scalar_type() == at::kBool) x = x.to(at::kInt);
  if (reverse) x = at::flip(x, {axis});
  if (exclusive) {
    int64_t n = x.size(axis);
    std::vector<int64_t> shape = x.sizes().vec();
    shape[axis] = 1;
    at::Tensor first = at::full(shape, isProd ? 1 : 0, x.options());
    x = at::cat({first, x.narrow(axis, 0, std::max<int64_t>(n - 1, 0))}, axis);
  }
  at::Tensor y = isProd ? at::cumprod(x, axis, x.scalar_type()) : at::cumsum(x, axis, x.scalar_type());
  if (reverse) y = at::flip(y, {axis});
  return ret(info.Env(), y);
}

Napi::Value TopK(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  auto r = at::topk(x, num(info[1]), -1, true, flag(info[2]));
  return retMany(info.Env(), {std::get<0>(r), std::get<1>(r)});
}

Napi::Value SearchSorted(const Napi::CallbackInfo& info) {
  const at::Tensor& sorted = get(info[0]);
  const at::Tensor& values = get(info[1]);
  return ret(info.Env(), at::searchsorted(sorted.contiguous(), values.contiguous(), true, flag(info[2])));
}

// ---------------------------------------------------------------------------------------------
// bf16 autocast (issue 17). When on, convolutions (forward and both gradients) and matmuls take
// their float32 operands as bfloat16, run oneDNN's bf16 kernels (products of 8-bit-mantissa values,
// accumulated in float32 inside oneDNN) and hand back float32 tensors, as torch.autocast('cpu',
// dtype=torch.bfloat16) computes those ops; everything else (element-wise ops, normalisation, softmax,
// reductions, the optimiser) stays float32. The result is rounded to bf16 by the kernel before it is
// widened back (ATen's bf16 kernels write bf16), exactly the values PyTorch's autocast produces.
bool autocastBf16 = false;

// bf16 copies of float32 operands, reused while their source lives (tensors are immutable here: TF.js
// never writes into a tensor after it is made). A training step casts each weight and each activation
// once instead of once per use (forward, input gradient, filter gradient; the tape's saved copies are
// aliases of the same storage), as PyTorch's autocast reuses the bf16 tensors it saved for backward.
// An entry holds its source's storage weakly: it is dropped once the storage is freed, and its address
// cannot be reused while the weak pointer is alive.
struct LowpEntry {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  int64_t offset;
  std::vector<int64_t> sizes, strides;
  at::Tensor low;
};
std::vector<LowpEntry> lowpCache;
size_t lowpCalls = 0;

void clearLowpCache() { lowpCache.clear(); }

// A float32 operand of an autocast op, as the op computes it.
at::Tensor lowp(const at::Tensor& t) {
  if (!autocastBf16 || t.scalar_type() != at::kFloat) return t;
  static const bool reuse = [] {
    const char* v = std::getenv("DISTILLERY_BF16_REUSE");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  if (!reuse) return t.to(at::kBFloat16);
  if (++lowpCalls % 16 == 0) {
    lowpCache.erase(std::remove_if(lowpCache.begin(), lowpCache.end(), [](const LowpEntry& e) { return e.storage.expired(); }),
                    lowpCache.end());
  }
  const c10::StorageImpl* s = t.storage().unsafeGetStorageImpl();
  for (const LowpEntry& e : lowpCache) {
    if (!e.storage.expired() && e.storage._unsafe_get_target() == s && e.offset == t.storage_offset() &&
        t.sizes().equals(e.sizes) && t.strides().equals(e.strides)) {
      return e.low;
    }
  }
  at::Tensor low = t.to(at::kBFloat16);
  lowpCache.push_back({t.storage().getWeakStorageImpl(), t.storage_offset(),
                       t.sizes().vec(), t.strides().vec(), low});
  return low;
}
// The op's result back in float32 (layout kept: a channels-last result stays channels-last).
inline at::Tensor widen(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? t.to(at::kFloat) : t; }

Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  autocastBf16 = flag(info[0]);
  if (!autocastBf16) lowpCache.clear();
  return Napi::Boolean::New(info.Env(), autocastBf16);
}
Napi::Value GetAutocast(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), autocastBf16); }
bool directBf16Conv();  // below, with the convolutions
// How bf16 convolutions run: "onednn" (float32 results straight from oneDNN) or "aten" (bf16 results
// widened), with the oneDNN implementations chosen so far.
Napi::Value Bf16Convolutions(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("path", directBf16Conv() ? "onednn" : "aten");
  o.Set("implementations", bf16conv::implementations());
  return o;
}

// ---------------------------------------------------------------------------------------------
// Linear algebra

// Under autocast, a product this small (multiply-adds) is computed as float32 arithmetic on bf16-rounded
// operands, then rounded to bf16: the same values as a bf16 kernel (products of 8-bit significands are
// exact in float32; the sum is float32 either way), without oneDNN's per-call set-up, which costs
// 0.25–0.4 ms for the reference UNet's [32, 128] × [128, 32] layers against ~20 µs of float32 work.
constexpr int64_t kSmallAutocastMacs = int64_t{1} << 20;

at::Tensor roundedToBf16(const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); }

Napi::Value MatMul(const Napi::CallbackInfo& info) {
  const at::Tensor& a0 = get(info[0]);
  const at::Tensor& b0 = get(info[1]);
  if (autocastBf16 && a0.scalar_type() == at::kFloat && b0.scalar_type() == at::kFloat && a0.dim() >= 2 && b0.dim() >= 2) {
    const bool ta = flag(info[2]), tb = flag(info[3]);
    const int64_t m = a0.size(ta ? -1 : -2), k = a0.size(ta ? -2 : -1), n = b0.size(tb ? -2 : -1);
    const int64_t batch = std::max(a0.numel() / std::max<int64_t>(m * k, 1), b0.numel() / std::max<int64_t>(k * n, 1));
    if (batch * m * n * k <= kSmallAutocastMacs) {
      at::Tensor a = roundedToBf16(a0), b = roundedToBf16(b0);
      if (ta) a = a.transpose(-1, -2);
      if (tb) b = b.transpose(-1, -2);
      return ret(info.Env(), roundedToBf16(at::matmul(a, b)));
    }
  }
  at::Tensor a = lowp(a0), b = lowp(b0);
  if (flag(info[2])) a = a.transpose(-1, -2);
  if (flag(info[3])) b = b.transpose(-1, -2);
  if (a.dim() == 2 && b.dim() == 2) return ret(info.Env(), widen(at::mm(a, b)));
  if (a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0)) {
    // ATen 1.13's bf16 bmm takes a slow loop (batch 32 of 64×64: 2.5–10 ms against 0.18 ms in float32);
    // baddbmm with beta 0 reaches oneDNN's bf16 matmul (0.06 ms). beta 0 ignores the uninitialised input.
    if (a.scalar_type() == at::kBFloat16) {
      return ret(info.Env(), widen(at::baddbmm(at::empty({a.size(0), a.size(1), b.size(2)}, a.options()), a, b, 0, 1)));
    }
    return ret(info.Env(), at::bmm(a, b));
  }
  return ret(info.Env(), widen(at::matmul(a, b)));
}

Napi::Value Einsum(const Napi::CallbackInfo& info) {
  return ret(info.Env(), at::einsum(info[0].As<Napi::String>().Utf8Value(), tensors(info[1])));
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling. Images are NHWC (channelsLast) or NCHW; NHWC data viewed as NCHW is
// ATen's channels-last layout, which oneDNN runs without copies. Padding is [top, bottom, left,
// right]; asymmetric ('same' with odd totals) padding is applied explicitly.

struct Conv2dArgs {
  std::vector<int64_t> stride, pad, dilation;
  bool depthwise, channelsLast;
  bool symmetric() const { return pad[0] == pad[1] && pad[2] == pad[3]; }
};

Conv2dArgs convArgs(const Napi::CallbackInfo& info, int first) {
  return {ints(info[first]), ints(info[first + 1]), ints(info[first + 2]), flag(info[first + 3]), flag(info[first + 4])};
}

// The bf16 convolutions with float32 results straight on oneDNN (bf16_conv.h): under autocast, for
// NHWC data and ordinary (not depthwise) filters, when the addon was built with oneDNN's headers.
// DISTILLERY_BF16_DNNL=0 keeps ATen's bf16 kernels (bf16 results widened to float32) for comparison.
bool directBf16Conv() {
  static const bool on = [] {
    const char* v = std::getenv("DISTILLERY_BF16_DNNL");
    return bf16conv::available() && !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}
bool direct(const Conv2dArgs& a) { return directBf16Conv() && autocastBf16 && a.channelsLast && !a.depthwise; }
bf16conv::Geometry geometry(const Conv2dArgs& a) {
  return {{a.stride[0], a.stride[1]}, {a.dilation[0], a.dilation[1]}, {a.pad[0], a.pad[1], a.pad[2], a.pad[3]}};
}
// The bf16 copy of a float32 tensor as a contiguous tensor of the same shape.
at::Tensor lowpContiguous(const at::Tensor& t) { return lowp(t.contiguous()).contiguous(); }

// NHWC/NCHW data -> the logical NCHW view ATen convolves.
at::Tensor toNCHW(const at::Tensor& x, bool channelsLast) {
  return channelsLast ? x.contiguous().permute({0, 3, 1, 2}) : x.contiguous();
}
at::Tensor fromNCHW(const at::Tensor& y, bool channelsLast) { return channelsLast ? y.permute({0, 2, 3, 1}) : y; }

// Zero padding applied to data in its own layout (keeps NHWC data contiguous NHWC).
at::Tensor padImage(const at::Tensor& x, const std::vector<int64_t>& p, bool channelsLast, double value) {
  if (channelsLast) return at::constant_pad_nd(x, {0, 0, p[2], p[3], p[0], p[1]}, value);
  return at::constant_pad_nd(x, {p[2], p[3], p[0], p[1]}, value);
}

// Removes [top, bottom, left, right] from an image in its own layout.
at::Tensor cropImage(const at::Tensor& x, const std::vector<int64_t>& p, bool channelsLast) {
  int64_t hd = channelsLast ? 1 : 2, wd = channelsLast ? 2 : 3;
  return x.narrow(hd, p[0], x.size(hd) - p[0] - p[1]).narrow(wd, p[2], x.size(wd) - p[2] - p[3]);
}

// TF filter [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier]) -> ATen weight [out, in/groups, kh, kw].
at::Tensor torchWeight(const at::Tensor& w, bool depthwise) {
  if (depthwise) return w.reshape({w.size(0), w.size(1), 1, w.size(2) * w.size(3)}).permute({3, 2, 0, 1});
  return w.permute({3, 2, 0, 1});
}

// conv2d(x, filter, bias|-1, stride[2], pad[4], dilation[2], depthwise, channelsLast)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  const at::Tensor& w = get(info[1]);
  c10::optional<at::Tensor> bias;
  if (num(info[2]) >= 0) bias = get(info[2]);
  Conv2dArgs a = convArgs(info, 3);
  if (direct(a)) {  // oneDNN pads asymmetrically itself: no padded copy
    at::Tensor y = bf16conv::forward(lowpContiguous(x), lowp(w.contiguous()), bias ? bias->contiguous() : at::Tensor(), geometry(a));
    if (y.defined()) return ret(info.Env(), y);
  }
  int64_t channels = a.channelsLast ? x.size(3) : x.size(1);
  int64_t groups = a.depthwise ? channels : 1;
  at::Tensor input = x;
  std::vector<int64_t> pad{a.pad[0], a.pad[2]};
  if (!a.symmetric()) {
    input = padImage(x, a.pad, a.channelsLast, 0.0);
    pad = {0, 0};
  }
  if (bias) bias = lowp(*bias);
  at::Tensor y = at::convolution(lowp(toNCHW(input, a.channelsLast)), lowp(torchWeight(w, a.depthwise)), bias, a.stride, pad,
                                 a.dilation, false, {0, 0}, groups);
  return ret(info.Env(), fromNCHW(widen(y), a.channelsLast));
}

// conv2dBackpropInput(dy, filter, inputShape[4], stride, pad, dilation, depthwise, channelsLast)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo& info) {
  const at::Tensor& dy = get(info[0]);
  const at::Tensor& w = get(info[1]);
  std::vector<int64_t> inShape = ints(info[2]);  // in the data's layout
  Conv2dArgs a = convArgs(info, 3);
  if (direct(a)) {
    at::Tensor dx = bf16conv::backwardData(lowpContiguous(dy), lowp(w.contiguous()), inShape, geometry(a));
    if (dx.defined()) return ret(info.Env(), dx);
  }
  std::vector<int64_t> nchw = a.channelsLast ? std::vector<int64_t>{inShape[0], inShape[3], inShape[1], inShape[2]} : inShape;
  bool sym = a.symmetric();
  std::vector<int64_t> pad{a.pad[0], a.pad[2]};
  if (!sym) {
    nchw[2] += a.pad[0] + a.pad[1];
    nchw[3] += a.pad[2] + a.pad[3];
    pad = {0, 0};
  }
  int64_t groups = a.depthwise ? nchw[1] : 1;
  // Only the input's shape and layout matter for the input gradient.
  at::Tensor dyc = lowp(toNCHW(dy, a.channelsLast));
  at::Tensor shapeOnly = at::empty(nchw, dyc.options().memory_format(a.channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
  auto grads = at::convolution_backward(dyc, shapeOnly, lowp(torchWeight(w, a.depthwise)), c10::nullopt,
                                        a.stride, pad, a.dilation, false, {0, 0}, groups, {true, false, false});
  at::Tensor dx = fromNCHW(widen(std::get<0>(grads)), a.channelsLast);
  if (!sym) dx = cropImage(dx, a.pad, a.channelsLast);
  return ret(info.Env(), dx);
}

// conv2dBackpropFilter(x, dy, filterShape[4], stride, pad, dilation, depthwise, channelsLast)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  const at::Tensor& dy = get(info[1]);
  std::vector<int64_t> fs = ints(info[2]);  // TF layout
  Conv2dArgs a = convArgs(info, 3);
  // Filter gradients in bf16 as autocast does them, unless DISTILLERY_BF16_FILTER_GRAD=0: on a quiet
  // machine oneDNN 2.6's bf16 backward-weights took 42 ms per reference-UNet step against 59 ms in
  // float32, but while other processes loaded the cores it degraded far more than float32 (672–2,739
  // against 263–576 ms per step), so float32 filter gradients are the choice on a busy machine.
  static const bool lowpFilterGrad = [] {
    const char* v = std::getenv("DISTILLERY_BF16_FILTER_GRAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  if (lowpFilterGrad && direct(a)) {  // oneDNN pads asymmetrically itself: no padded copy
    at::Tensor dw = bf16conv::backwardFilter(lowpContiguous(x), lowpContiguous(dy), fs, geometry(a));
    if (dw.defined()) return ret(info.Env(), dw);
  }
  at::Tensor input = x;
  std::vector<int64_t> pad{a.pad[0], a.pad[2]};
  if (!a.symmetric()) {
    input = padImage(x, a.pad, a.channelsLast, 0.0);
    pad = {0, 0};
  }
  std::vector<int64_t> wShape = a.depthwise ? std::vector<int64_t>{fs[2] * fs[3], 1, fs[0], fs[1]}
                                            : std::vector<int64_t>{fs[3], fs[2], fs[0], fs[1]};
  int64_t groups = a.depthwise ? fs[2] : 1;
  at::Tensor dyc = lowpFilterGrad ? lowp(toNCHW(dy, a.channelsLast)) : toNCHW(dy, a.channelsLast);
  at::Tensor xc = lowpFilterGrad ? lowp(toNCHW(input, a.channelsLast)) : toNCHW(input, a.channelsLast);
  at::Tensor shapeOnly = at::empty(wShape, dyc.options());
  auto grads = at::convolution_backward(dyc, xc, shapeOnly, c10::nullopt,
                                        a.stride, pad, a.dilation, false, {0, 0}, groups, {false, true, false});
  at::Tensor dw = widen(std::get<1>(grads)).permute({2, 3, 1, 0});  // [kh, kw, in/groups, out]
  if (a.depthwise) dw = dw.reshape({fs[0], fs[1], fs[2], fs[3]});
  return ret(info.Env(), dw);
}

struct PoolArgs {
  std::vector<int64_t> kernel, stride, pad;
  bool padded() const { return pad[0] || pad[1] || pad[2] || pad[3]; }
};

PoolArgs poolArgs(const Napi::CallbackInfo& info, int first) { return {ints(info[first]), ints(info[first + 1]), ints(info[first + 2])}; }

// Number of real (unpadded) elements in each average-pooling window, shape [1, 1, oh, ow].
at::Tensor windowCounts(int64_t h, int64_t w, const PoolArgs& p, const at::TensorOptions& o) {
  at::Tensor ones = at::ones({1, 1, h, w}, o);
  at::Tensor padded = at::constant_pad_nd(ones, {p.pad[2], p.pad[3], p.pad[0], p.pad[1]}, 0.0);
  return at::avg_pool2d(padded, p.kernel, p.stride, {0, 0}, false, true) * static_cast<double>(p.kernel[0] * p.kernel[1]);
}

// pool2d(isMax, x NHWC, kernel[2], stride[2], pad[4]); padded cells never win a max and do not count
// toward an average (TF semantics).
Napi::Value Pool2d(const Napi::CallbackInfo& info) {
  bool isMax = flag(info[0]);
  const at::Tensor& x = get(info[1]);
  PoolArgs p = poolArgs(info, 2);
  at::Tensor input = x;
  if (p.padded()) input = padImage(x, p.pad, true, isMax ? -std::numeric_limits<double>::infinity() : 0.0);
  at::Tensor xin = toNCHW(input, true);
  at::Tensor y;
  if (isMax) {
    y = at::max_pool2d(xin, p.kernel, p.stride, {0, 0}, {1, 1}, false);
  } else {
    y = at::avg_pool2d(xin, p.kernel, p.stride, {0, 0}, false, true);
    if (p.padded()) y = y * (static_cast<double>(p.kernel[0] * p.kernel[1]) / windowCounts(x.size(1), x.size(2), p, x.options()));
  }
  return ret(info.Env(), fromNCHW(y, true));
}

// maxPoolGrad(dy, x, kernel, stride, pad): gradient flows to the first maximum of each window.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& dy = get(info[0]);
  const at::Tensor& x = get(info[1]);
  PoolArgs p = poolArgs(info, 2);
  at::Tensor input = p.padded() ? padImage(x, p.pad, true, -std::numeric_limits<double>::infinity()) : x;
  at::Tensor xin = toNCHW(input, true);
  auto r = at::max_pool2d_with_indices(xin, p.kernel, p.stride, {0, 0}, {1, 1}, false);
  at::Tensor dx = at::max_pool2d_with_indices_backward(toNCHW(dy, true), xin, p.kernel, p.stride, {0, 0}, {1, 1}, false,
                                                       std::get<1>(r));
  dx = fromNCHW(dx, true);
  if (p.padded()) dx = cropImage(dx, p.pad, true);
  return ret(info.Env(), dx);
}

// avgPoolGrad(dy, x, kernel, stride, pad)
Napi::Value AvgPoolGrad(const Napi::CallbackInfo& info) {
  at::Tensor g = toNCHW(get(info[0]), true);
  const at::Tensor& x = get(info[1]);
  PoolArgs p = poolArgs(info, 2);
  at::Tensor input = p.padded() ? padImage(x, p.pad, true, 0.0) : x;
  if (p.padded()) g = g * (static_cast<double>(p.kernel[0] * p.kernel[1]) / windowCounts(x.size(1), x.size(2), p, x.options()));
  at::Tensor dx = at::avg_pool2d_backward(g.contiguous(at::MemoryFormat::ChannelsLast), toNCHW(input, true), p.kernel,
                                          p.stride, {0, 0}, false, true, c10::nullopt);
  dx = fromNCHW(dx, true);
  if (p.padded()) dx = cropImage(dx, p.pad, true);
  return ret(info.Env(), dx);
}

// ---------------------------------------------------------------------------------------------
// GroupNorm (+ SiLU) on NHWC data, written out as two passes over the elements each way (ATen's
// native_group_norm plus separate x - mean, sigmoid and product ops made six passes and four
// allocations forward, nine passes backward). Samples are cut into chunks of rows (pixels) that the
// threads share; each chunk's sums are float (at most kChunkElems values), combined in double.
// The element loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISTILLERY_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DISTILLERY_SIMD_CLONES
#endif

constexpr int64_t kChunkElems = 16384;

// sigmoid(z) = 1 / (1 + e^-z) for float32 in branch-free arithmetic the compiler vectorizes: with
// a = -z = n ln2 + r, |r| <= ln2/2, e^r by Cephes' degree-6 polynomial (relative error ~1e-7) and 2^n
// by building the exponent bits; n is rounded to nearest by adding and subtracting 1.5 * 2^23. a is
// clamped to [-80, 89]: at -80, 1 + e^a is exactly 1; at 89, 2^n is +inf and the result exactly 0.
// Neither end makes a subnormal (the vectorized loop evaluates both clamped branches on every lane,
// and subnormal arithmetic costs ~100 cycles an operation: a clamp at 88.4 made SiLU 8x slower).
inline float sigmoidApprox(float z) {
  float a = -z;
  a = a < -80.0f ? -80.0f : a;
  a = a > 89.0f ? 89.0f : a;
  const float n = (a * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = a - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return 1.0f / (1.0f + p * scale);
}

// Per-channel sums of (x - shift) and (x - shift)^2 over `rows` rows of `c` channels (accumulated into s1, s2).
DISTILLERY_SIMD_CLONES
void gnSumRows(const float* __restrict x, int64_t rows, int64_t c, const float* __restrict shift, float* __restrict s1, float* __restrict s2) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * c;
    for (int64_t k = 0; k < c; ++k) {
      const float d = xr[k] - shift[k];
      s1[k] += d;
      s2[k] += d * d;
    }
  }
}

// z = x a + b per channel; y = z (or z sigmoid(z)); optionally s = sigmoid(z) and xc = x - mean.
DISTILLERY_SIMD_CLONES
void gnApplyRows(const float* __restrict x, int64_t rows, int64_t c, const float* __restrict a, const float* __restrict b,
                 const float* __restrict mean, bool silu, float* __restrict y, float* __restrict s, float* __restrict xc) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * c;
    if (silu && s) {
      for (int64_t k = 0; k < c; ++k) {
        const float z = x[o + k] * a[k] + b[k];
        const float sg = sigmoidApprox(z);
        s[o + k] = sg;
        y[o + k] = z * sg;
        xc[o + k] = x[o + k] - mean[k];
      }
    } else if (silu) {
      for (int64_t k = 0; k < c; ++k) {
        const float z = x[o + k] * a[k] + b[k];
        y[o + k] = z * sigmoidApprox(z);
      }
    } else {
      for (int64_t k = 0; k < c; ++k) y[o + k] = x[o + k] * a[k] + b[k];
      if (xc) {
        for (int64_t k = 0; k < c; ++k) xc[o + k] = x[o + k] - mean[k];
      }
    }
  }
}

// With g = dL/dz (dy, or dy (s + y (1 - s)) through the SiLU): per-channel sums of g and g xc.
DISTILLERY_SIMD_CLONES
void gnGradSumRows(const float* __restrict dy, const float* __restrict y, const float* __restrict s,
                   const float* __restrict xc, int64_t rows, int64_t c, float* __restrict sa, float* __restrict sp) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * c;
    if (s) {
      for (int64_t k = 0; k < c; ++k) {
        const float g = dy[o + k] * (s[o + k] + y[o + k] * (1.0f - s[o + k]));
        sa[k] += g;
        sp[k] += g * xc[o + k];
      }
    } else {
      for (int64_t k = 0; k < c; ++k) {
        sa[k] += dy[o + k];
        sp[k] += dy[o + k] * xc[o + k];
      }
    }
  }
}

// dx = g coefG - xc coefX - shift per channel.
DISTILLERY_SIMD_CLONES
void gnGradApplyRows(const float* __restrict dy, const float* __restrict y, const float* __restrict s,
                     const float* __restrict xc, int64_t rows, int64_t c, const float* __restrict coefG,
                     const float* __restrict coefX, const float* __restrict shift, float* __restrict dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * c;
    if (s) {
      for (int64_t k = 0; k < c; ++k) {
        const float g = dy[o + k] * (s[o + k] + y[o + k] * (1.0f - s[o + k]));
        dx[o + k] = g * coefG[k] - xc[o + k] * coefX[k] - shift[k];
      }
    } else {
      for (int64_t k = 0; k < c; ++k) dx[o + k] = dy[o + k] * coefG[k] - xc[o + k] * coefX[k] - shift[k];
    }
  }
}

// How the rows (pixels) of each sample are cut into chunks: `chunks` per sample of `rows` rows each.
struct RowChunks {
  int64_t rows, chunks;
  RowChunks(int64_t hw, int64_t c) {
    rows = std::max<int64_t>(1, std::min<int64_t>(hw, kChunkElems / std::max<int64_t>(c, 1)));
    chunks = (hw + rows - 1) / rows;
  }
  int64_t count(int64_t chunk, int64_t hw) const { return std::min(rows, hw - chunk * rows); }
};

void checkGroupNormInput(const at::Tensor& t, const char* what, int64_t numel) {
  if (t.scalar_type() != at::kFloat || t.numel() != numel) {
    throw std::invalid_argument(std::string("groupNorm: ") + what + " must be float32 with " + std::to_string(numel) + " values");
  }
}

// groupNorm(x NHWC, gamma, beta, groups, eps, silu, forBackward) -> [y, mean [N, G], rstd [N, G], x - mean,
// sigmoid(z)?] (the contract of Distillery's fused GroupNorm kernel, see src/backends/wasm/fused.ts):
// z = GroupNorm(x), y = z or, with silu, z * sigmoid(z). x - mean and sigmoid(z) exist only for the
// backward; when no gradient is being recorded (forBackward false) they are not computed and the two
// outputs alias x and y. Statistics: per sample and channel, sums of x - K and (x - K)^2 with K the
// sample's first pixel (no cancellation when |mean| >> std), combined per group in double.
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  at::Tensor x = get(info[0]).contiguous();
  at::Tensor gamma = get(info[1]).contiguous();
  at::Tensor beta = get(info[2]).contiguous();
  const int64_t groups = num(info[3]);
  const double eps = dbl(info[4]);
  const bool silu = flag(info[5]);
  const bool forBackward = flag(info[6]);
  if (x.dim() != 4 || x.scalar_type() != at::kFloat) throw std::invalid_argument("groupNorm: x must be float32 NHWC");
  const int64_t n = x.size(0), hw = x.size(1) * x.size(2), c = x.size(3);
  if (groups <= 0 || c % groups != 0) throw std::invalid_argument("groupNorm: channels not divisible by groups");
  checkGroupNormInput(gamma, "gamma", c);
  checkGroupNormInput(beta, "beta", c);
  const int64_t cg = c / groups;
  const RowChunks rc(hw, c);
  const int64_t tasks = n * rc.chunks;
  const float* xp = x.data_ptr<float>();
  // Shift K: each sample's first pixel.
  std::vector<float> partial(static_cast<size_t>(2 * tasks * c), 0.0f);
  if (hw > 0) {
    at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t i = t / rc.chunks, k = t % rc.chunks;
        float* s1 = partial.data() + 2 * t * c;
        gnSumRows(xp + (i * hw + k * rc.rows) * c, rc.count(k, hw), c, xp + i * hw * c, s1, s1 + c);
      }
    });
  }
  at::Tensor mean = at::empty({n, groups}, x.options()), rstd = at::empty({n, groups}, x.options());
  float* mp = mean.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  // Per (sample, channel) affine coefficients z = x a + b, and the group mean per channel.
  std::vector<float> coefA(static_cast<size_t>(n * c)), coefB(static_cast<size_t>(n * c)), meanC(static_cast<size_t>(n * c));
  const float* gp = gamma.data_ptr<float>();
  const float* bp = beta.data_ptr<float>();
  const double m = static_cast<double>(hw * cg);
  std::vector<double> s1(static_cast<size_t>(c)), s2(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(s1.begin(), s1.end(), 0.0);
    std::fill(s2.begin(), s2.end(), 0.0);
    for (int64_t k = 0; k < rc.chunks && hw > 0; ++k) {
      const float* pt = partial.data() + 2 * (i * rc.chunks + k) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        s1[ch] += pt[ch];
        s2[ch] += pt[c + ch];
      }
    }
    const float* shift = xp + i * hw * c;
    for (int64_t g = 0; g < groups; ++g) {
      double total = 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) total += (hw > 0 ? shift[ch] : 0.0) * hw + s1[ch];
      const double mu = m > 0 ? total / m : 0.0;
      double ss = 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const double d = mu - (hw > 0 ? shift[ch] : 0.0);
        ss += s2[ch] - 2.0 * d * s1[ch] + static_cast<double>(hw) * d * d;
      }
      const double var = m > 0 ? std::max(ss / m, 0.0) : 0.0;
      const double r = 1.0 / std::sqrt(var + eps);
      mp[i * groups + g] = static_cast<float>(mu);
      rp[i * groups + g] = static_cast<float>(r);
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const double a = r * gp[ch];
        coefA[i * c + ch] = static_cast<float>(a);
        coefB[i * c + ch] = static_cast<float>(bp[ch] - mu * a);
        meanC[i * c + ch] = static_cast<float>(mu);
      }
    }
  }
  at::Tensor y = at::empty_like(x);
  at::Tensor s, xc;
  if (forBackward) {
    xc = at::empty_like(x);
    if (silu) s = at::empty_like(x);
  }
  float* yp = y.data_ptr<float>();
  float* sp = s.defined() ? s.data_ptr<float>() : nullptr;
  float* xcp = xc.defined() ? xc.data_ptr<float>() : nullptr;
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i = t / rc.chunks, k = t % rc.chunks;
      const int64_t o = (i * hw + k * rc.rows) * c;
      gnApplyRows(xp + o, rc.count(k, hw), c, coefA.data() + i * c, coefB.data() + i * c, meanC.data() + i * c, silu, yp + o,
                  sp ? sp + o : nullptr, xcp ? xcp + o : nullptr);
    }
  });
  if (!forBackward) return silu ? retMany(info.Env(), {y, mean, rstd, x, y}) : retMany(info.Env(), {y, mean, rstd, x});
  return silu ? retMany(info.Env(), {y, mean, rstd, xc, s}) : retMany(info.Env(), {y, mean, rstd, xc});
}

// groupNormGrad(dy, xc, gamma, rstd, y|-1, sig|-1, groups) -> [dx, dgamma, dbeta]
// With g = dL/dz, per sample n and channel c: A = sum_hw g, P = sum_hw g * xc; per group (M = HW * C/G
// elements): m1 = sum_c gamma_c A / M, m2 = r * sum_c gamma_c P / M; then
// dx = g * (r gamma_c) - xc * (r^2 m2) - r m1, dgamma = sum_n r P, dbeta = sum_n A.
// Two passes: the sums, then dx (g recomputed from dy, y and sigmoid(z) rather than stored).
Napi::Value GroupNormGrad(const Napi::CallbackInfo& info) {
  at::Tensor dy = get(info[0]).contiguous();
  at::Tensor xc = get(info[1]).contiguous();
  at::Tensor gamma = get(info[2]).contiguous();
  at::Tensor rstd = get(info[3]).contiguous();
  const bool silu = num(info[4]) >= 0;
  at::Tensor y = silu ? get(info[4]).contiguous() : at::Tensor();
  at::Tensor s = silu ? get(info[5]).contiguous() : at::Tensor();
  const int64_t groups = num(info[6]);
  if (xc.dim() != 4 || xc.scalar_type() != at::kFloat) throw std::invalid_argument("groupNormGrad: xc must be float32 NHWC");
  const int64_t n = xc.size(0), hw = xc.size(1) * xc.size(2), c = xc.size(3);
  if (groups <= 0 || c % groups != 0) throw std::invalid_argument("groupNormGrad: channels not divisible by groups");
  const int64_t numel = xc.numel(), cg = c / groups;
  checkGroupNormInput(dy, "dy", numel);
  checkGroupNormInput(gamma, "gamma", c);
  checkGroupNormInput(rstd, "rstd", n * groups);
  if (silu) {
    checkGroupNormInput(y, "y", numel);
    checkGroupNormInput(s, "sigmoid(z)", numel);
  }
  const float* dyp = dy.data_ptr<float>();
  const float* xcp = xc.data_ptr<float>();
  const float* yp = silu ? y.data_ptr<float>() : nullptr;
  const float* sp = silu ? s.data_ptr<float>() : nullptr;
  const RowChunks rc(hw, c);
  const int64_t tasks = n * rc.chunks;
  std::vector<float> partial(static_cast<size_t>(2 * tasks * c), 0.0f);
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i = t / rc.chunks, k = t % rc.chunks;
      const int64_t o = (i * hw + k * rc.rows) * c;
      float* pa = partial.data() + 2 * t * c;
      gnGradSumRows(dyp + o, yp ? yp + o : nullptr, sp ? sp + o : nullptr, xcp + o, rc.count(k, hw), c, pa, pa + c);
    }
  });
  const float* gp = gamma.data_ptr<float>();
  const float* rp = rstd.data_ptr<float>();
  const double m = static_cast<double>(hw * cg);
  std::vector<float> coefG(static_cast<size_t>(n * c)), coefX(static_cast<size_t>(n * c)), shift(static_cast<size_t>(n * c));
  std::vector<double> dgamma(static_cast<size_t>(c), 0.0), dbeta(static_cast<size_t>(c), 0.0);
  std::vector<double> a(static_cast<size_t>(c)), p(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(a.begin(), a.end(), 0.0);
    std::fill(p.begin(), p.end(), 0.0);
    for (int64_t k = 0; k < rc.chunks; ++k) {
      const float* pt = partial.data() + 2 * (i * rc.chunks + k) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        a[ch] += pt[ch];
        p[ch] += pt[c + ch];
      }
    }
    for (int64_t g = 0; g < groups; ++g) {
      const double r = rp[i * groups + g];
      double ga = 0.0, gpp = 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        ga += gp[ch] * a[ch];
        gpp += gp[ch] * p[ch];
        dgamma[ch] += r * p[ch];
        dbeta[ch] += a[ch];
      }
      const double m1 = m > 0 ? ga / m : 0.0, m2 = m > 0 ? r * gpp / m : 0.0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        coefG[i * c + ch] = static_cast<float>(r * gp[ch]);
        coefX[i * c + ch] = static_cast<float>(r * r * m2);
        shift[i * c + ch] = static_cast<float>(r * m1);
      }
    }
  }
  at::Tensor dx = at::empty_like(xc);
  float* dxp = dx.data_ptr<float>();
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t i = t / rc.chunks, k = t % rc.chunks;
      const int64_t o = (i * hw + k * rc.rows) * c;
      gnGradApplyRows(dyp + o, yp ? yp + o : nullptr, sp ? sp + o : nullptr, xcp + o, rc.count(k, hw), c, coefG.data() + i * c,
                      coefX.data() + i * c, shift.data() + i * c, dxp + o);
    }
  });
  at::Tensor dg = at::empty({c}, xc.options()), db = at::empty({c}, xc.options());
  for (int64_t ch = 0; ch < c; ++ch) {
    dg.data_ptr<float>()[ch] = static_cast<float>(dgamma[ch]);
    db.data_ptr<float>()[ch] = static_cast<float>(dbeta[ch]);
  }
  return retMany(info.Env(), {dx, dg, db});
}

// adamw(p, g, m, v, beta1, beta2, eps, stepSize, sqrtBias2, decay) -> [p', m', v'], new tensors (the
// inputs stay untouched, as TF.js requires). One pass over the elements in float32, each operation in
// the order of the composed update in src/training/adamw.ts, so the result equals it bit for bit:
//   m' = m b1 + g (1 - b1); v' = v b2 + g^2 (1 - b2); p' = p decay - (m' / (sqrt(v') / sqrtBias2 + eps)) stepSize
// (p decay only when decay != 1). The scalars arrive as doubles and are rounded to float32 here, as
// TF.js rounds a JS number multiplied into a float32 tensor.
Napi::Value AdamW(const Napi::CallbackInfo& info) {
  at::Tensor p = get(info[0]).contiguous(), g = get(info[1]).contiguous();
  at::Tensor m = get(info[2]).contiguous(), v = get(info[3]).contiguous();
  const int64_t n = p.numel();
  for (const at::Tensor* t : {&p, &g, &m, &v}) {
    if (t->scalar_type() != at::kFloat || t->numel() != n) throw std::invalid_argument("adamw: p, g, m and v must be float32 with equal sizes");
  }
  const double beta1 = dbl(info[4]), beta2 = dbl(info[5]), decayD = dbl(info[9]);
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float omb1 = static_cast<float>(1 - beta1), omb2 = static_cast<float>(1 - beta2);
  const float eps = static_cast<float>(dbl(info[6])), stepSize = static_cast<float>(dbl(info[7]));
  const float sqrtBias2 = static_cast<float>(dbl(info[8])), decay = static_cast<float>(decayD);
  const bool decays = decayD != 1.0;
  at::Tensor pn = at::empty_like(p), mn = at::empty_like(m), vn = at::empty_like(v);
  const float *pp = p.data_ptr<float>(), *gp = g.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
  float *pnp = pn.data_ptr<float>(), *mnp = mn.data_ptr<float>(), *vnp = vn.data_ptr<float>();
  at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = gp[i];
      const float mi = mp[i] * b1 + gi * omb1;
      const float vi = vp[i] * b2 + (gi * gi) * omb2;
      const float denom = std::sqrt(vi) / sqrtBias2 + eps;
      const float pd = decays ? pp[i] * decay : pp[i];
      pnp[i] = pd - (mi / denom) * stepSize;
      mnp[i] = mi;
      vnp[i] = vi;
    }
  });
  return retMany(info.Env(), {pn, mn, vn});
}

// sumSquares([handles]) -> float32 scalar: sum over the tensors of sum(x^2), accumulated in float64 (the
// squared global gradient norm in one call instead of a Square, a Sum and an AddN term per tensor).
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  double total = 0;
  for (const at::Tensor& t : tensors(info[0])) {
    at::Tensor d = t.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true);  // a float64 copy, squared in place
    total += d.mul_(d).sum().item<double>();
  }
  return ret(info.Env(), at::scalar_tensor(total, at::kFloat));
}

// interpolate(x, axis, Float32Array matrix [out, in]): y = M applied along `axis` (bilinear resize
// and its gradient, with TF's exact sampling positions computed on the host).
// upsampleNearest(x NHWC, outH, outW): each pixel repeated (outH / h) x (outW / w) times (integer
// factors; the caller checks that TF's index rule gives exactly that).
Napi::Value UpsampleNearest(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  at::Tensor y = at::upsample_nearest2d(toNCHW(x, true).contiguous(at::MemoryFormat::ChannelsLast), {num(info[1]), num(info[2])});
  return ret(info.Env(), fromNCHW(y, true).contiguous());
}

// upsampleNearestGrad(dy NHWC, h, w): the sum over each pixel's copies.
Napi::Value UpsampleNearestGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& dy = get(info[0]);
  const int64_t h = num(info[1]), w = num(info[2]);
  at::Tensor g = toNCHW(dy, true).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor dx = at::upsample_nearest2d_backward(g, {dy.size(1), dy.size(2)}, {dy.size(0), dy.size(3), h, w});
  return ret(info.Env(), fromNCHW(dx, true).contiguous());
}

Napi::Value Interpolate(const Napi::CallbackInfo& info) {
  const at::Tensor& x = get(info[0]);
  int64_t axis = num(info[1]);
  Napi::Float32Array m = info[2].As<Napi::Float32Array>();
  int64_t in = x.size(axis);
  int64_t out = static_cast<int64_t>(m.ElementLength()) / std::max<int64_t>(in, 1);
  at::Tensor mat = at::from_blob(m.Data(), {out, in}, at::kFloat).clone();
  at::Tensor moved = x.movedim(axis, -1);
  at::Tensor y = at::matmul(moved, mat.t());
  return ret(info.Env(), y.movedim(-1, axis));
}

#define EXPORT(name, fn) exports.Set(name, Napi::Function::New<guarded<fn>>(env, name))

Napi::Array names(Napi::Env env, const char* const* list, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, list[i]));
  return a;
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("unaryOps", names(env, kUnaryOps, sizeof(kUnaryOps) / sizeof(*kUnaryOps)));
  exports.Set("binaryOps", names(env, kBinaryOps, sizeof(kBinaryOps) / sizeof(*kBinaryOps)));
  exports.Set("reduceOps", names(env, kReduceOps, sizeof(kReduceOps) / sizeof(*kReduceOps)));
  EXPORT("init", Init);
  EXPORT("setThreads", SetThreads);
  EXPORT("nativeMs", NativeMs);
  EXPORT("cachedBytes", CachedBytes);
  EXPORT("emptyCache", EmptyCache);
  EXPORT("getThreads", GetThreads);
  EXPORT("parallelInfo", ParallelInfo);
  EXPORT("config", Config);
  EXPORT("live", Live);
  EXPORT("free", Free);
  EXPORT("freeAll", FreeAll);
  EXPORT("describe", Describe);
  EXPORT("strides", Strides);
  EXPORT("fromData", FromData);
  EXPORT("toData", ToData);
  EXPORT("unary", Unary);
  EXPORT("binary", Binary);
  EXPORT("cast", Cast);
  EXPORT("where", Where);
  EXPORT("reshape", Reshape);
  EXPORT("permute", Permute);
  EXPORT("expand", Expand);
  EXPORT("flip", Flip);
  EXPORT("repeat", Repeat);
  EXPORT("stridedSlice", StridedSlice);
  EXPORT("concat", Concat);
  EXPORT("stack", Stack);
  EXPORT("unbind", Unbind);
  EXPORT("split", Split);
  EXPORT("pad", Pad);
  EXPORT("full", Full);
  EXPORT("take", Take);
  EXPORT("takeAdjoint", TakeAdjoint);
  EXPORT("gather", Gather);
  EXPORT("gatherNd", GatherNd);
  EXPORT("scatterNd", ScatterNd);
  EXPORT("tensorScatterUpdate", TensorScatterUpdate);
  EXPORT("segmentSum", SegmentSum);
  EXPORT("oneHot", OneHot);
  EXPORT("reduce", Reduce);
  EXPORT("argReduce", ArgReduce);
  EXPORT("softmax", Softmax);
  EXPORT("scan", Scan);
  EXPORT("topk", TopK);
  EXPORT("searchSorted", SearchSorted);
  EXPORT("setAutocast", SetAutocast);
  EXPORT("getAutocast", GetAutocast);
  EXPORT("bf16Convolutions", Bf16Convolutions);
  EXPORT("matmul", MatMul);
  EXPORT("einsum", Einsum);
  EXPORT("conv2d", Conv2d);
  EXPORT("conv2dBackpropInput", Conv2dBackpropInput);
  EXPORT("conv2dBackpropFilter", Conv2dBackpropFilter);
  EXPORT("pool2d", Pool2d);
  EXPORT("maxPoolGrad", MaxPoolGrad);
  EXPORT("avgPoolGrad", AvgPoolGrad);
  EXPORT("interpolate", Interpolate);
  EXPORT("upsampleNearest", UpsampleNearest);
  EXPORT("upsampleNearestGrad", UpsampleNearestGrad);
  EXPORT("groupNorm", GroupNorm);
  EXPORT("groupNormGrad", GroupNormGrad);
  EXPORT("adamw", AdamW);
  EXPORT("sumSquares", SumSquares);
  return exports;
}

}  // namespace

NODE_API_MODULE(distillery_libtorch, Module)
