// bf16 convolutions with float32 results on oneDNN: see bf16_conv.h.
#include "bf16_conv.h"

#if DISTILLERY_DNNL
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <unordered_map>

namespace bf16conv {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// One convolution of one geometry and direction: the primitive, the layouts it asked for and, where its
// filter layout is not TF.js's [kh, kw, in, out] (oneDNN's hwio), the reorder between the two. Built once
// per geometry (creating a primitive descriptor walks oneDNN's implementation list: tens of µs, a few ms
// per training step if repeated) and kept (up to kMaxPlans, below); a UNet has a few dozen.
struct Plan {
  bool usable = false;  // false: oneDNN has only its reference implementation here
  dnnl::primitive prim;
  memory::desc filter;        // the filter (or filter gradient) layout the primitive uses
  memory::desc userFilter;    // hwio, as TF.js holds filters
  bool reorderFilter = false;
  dnnl::reorder filterReorder;  // forward, input gradient: bf16 hwio -> filter; filter gradient: filter -> f32 hwio
  size_t scratchpad = 0;
  std::string impl;
};

std::unordered_map<std::string, std::unique_ptr<Plan>> plans;
std::map<std::string, std::string> chosen;  // description -> implementation, in a stable order

struct Shapes {
  memory::dims src, weights, dst, strides, dilates, padL, padR;
};

Shapes shapes(at::IntArrayRef xNHWC, at::IntArrayRef filter, const Geometry& g) {
  const int64_t kh = filter[0], kw = filter[1], in = filter[2], out = filter[3];
  const int64_t h = xNHWC[1], w = xNHWC[2];
  const int64_t oh = (h + g.pad[0] + g.pad[1] - ((kh - 1) * g.dilation[0] + 1)) / g.stride[0] + 1;
  const int64_t ow = (w + g.pad[2] + g.pad[3] - ((kw - 1) * g.dilation[1] + 1)) / g.stride[1] + 1;
  return {{xNHWC[0], in, h, w},
          {out, in, kh, kw},
          {xNHWC[0], out, oh, ow},
          {g.stride[0], g.stride[1]},
          {g.dilation[0] - 1, g.dilation[1] - 1},
          {g.pad[0], g.pad[2]},
          {g.pad[1], g.pad[3]}};
}

std::string key(char kind, const Shapes& s, bool bias) {
  std::string k(1, kind);
  for (const memory::dims* d : {&s.src, &s.weights, &s.strides, &s.dilates, &s.padL, &s.padR}) {
    for (int64_t v : *d) k += ',' + std::to_string(v);
  }
  if (bias) k += 'b';
  return k;
}

std::string describe(const char* what, const Shapes& s) {
  return std::string(what) + ' ' + std::to_string(s.src[2]) + 'x' + std::to_string(s.src[3]) + 'x' + std::to_string(s.src[1]) +
         "->" + std::to_string(s.dst[1]) + " k" + std::to_string(s.weights[2]) + " s" + std::to_string(s.strides[0]);
}

dnnl::primitive_attr userScratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// The forward descriptor every direction is built from (and hinted with).
dnnl::convolution_forward::desc forwardDesc(const Shapes& s, dt dst, bool bias) {
  memory::desc src(s.src, dt::bf16, tag::nhwc), weights(s.weights, dt::bf16, tag::any), out(s.dst, dst, tag::nhwc);
  memory::desc b = bias ? memory::desc({s.dst[1]}, dt::f32, tag::x) : memory::desc();
  return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, weights, b,
                                         out, s.strides, s.dilates, s.padL, s.padR);
}

bool reference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

// Fills a plan from its primitive descriptor: the implementation (a reference one makes the plan
// unusable), the scratchpad size, the primitive, and the filter layouts — `wanted`, the primitive's, and
// TF.js's hwio in `filterType` — with the reorder between them (into `wanted` for the forward and the
// input gradient, out of it for the filter gradient).
template <typename PD, typename Primitive>
void finish(Plan& p, const PD& pd, const char* what, const Shapes& s, const memory::desc& wanted, dt filterType, bool intoUser) {
  p.impl = pd.impl_info_str();
  chosen[describe(what, s)] = p.impl;
  p.usable = !reference(p.impl);
  p.scratchpad = pd.scratchpad_desc().get_size();
  p.prim = Primitive(pd);
  p.filter = wanted;
  p.userFilter = memory::desc(s.weights, filterType, tag::hwio);
  p.reorderFilter = p.filter != p.userFilter;
  if (!p.reorderFilter) return;
  p.filterReorder = intoUser ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), p.filter, engine(), p.userFilter))
                             : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), p.userFilter, engine(), p.filter));
}

// At most this many plans are kept; past it they are all dropped and rebuilt on demand (a run meets a
// few dozen geometries; sampling at many batch sizes could otherwise grow the map without end).
constexpr size_t kMaxPlans = 512;

// The plan for `k`, built by `build` on first use. A geometry oneDNN refuses (dnnl::error) gets an
// unusable plan: the caller takes ATen's path, now and later.
template <typename Build>
Plan& plan(const std::string& k, Build build) {
  auto it = plans.find(k);
  if (it != plans.end()) return *it->second;
  if (plans.size() >= kMaxPlans) plans.clear();
  auto p = std::make_unique<Plan>();
  try {
    build(*p);
  } catch (const dnnl::error&) {
    *p = Plan();
  }
  return *plans.emplace(k, std::move(p)).first->second;
}

void buildForward(Plan& p, const Shapes& s, bool bias) {
  dnnl::convolution_forward::primitive_desc pd(forwardDesc(s, dt::f32, bias), userScratchpad(), engine());
  finish<decltype(pd), dnnl::convolution_forward>(p, pd, "forward", s, pd.weights_desc(), dt::bf16, false);
}

void buildData(Plan& p, const Shapes& s) {
  dnnl::convolution_forward::primitive_desc hint(forwardDesc(s, dt::bf16, false), engine());
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, memory::desc(s.src, dt::f32, tag::nhwc),
                                          memory::desc(s.weights, dt::bf16, tag::any), memory::desc(s.dst, dt::bf16, tag::nhwc),
                                          s.strides, s.dilates, s.padL, s.padR);
  dnnl::convolution_backward_data::primitive_desc pd(d, userScratchpad(), engine(), hint);
  finish<decltype(pd), dnnl::convolution_backward_data>(p, pd, "input gradient", s, pd.weights_desc(), dt::bf16, false);
}

void buildFilter(Plan& p, const Shapes& s) {
  dnnl::convolution_forward::primitive_desc hint(forwardDesc(s, dt::bf16, false), engine());
  dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, memory::desc(s.src, dt::bf16, tag::nhwc),
                                             memory::desc(s.weights, dt::f32, tag::any), memory::desc(),
                                             memory::desc(s.dst, dt::bf16, tag::nhwc), s.strides, s.dilates, s.padL, s.padR);
  dnnl::convolution_backward_weights::primitive_desc pd(d, userScratchpad(), engine(), hint);
  finish<decltype(pd), dnnl::convolution_backward_weights>(p, pd, "filter gradient", s, pd.diff_weights_desc(), dt::f32, true);
}

Plan& forwardPlan(const Shapes& s, bool bias) { return plan(key('f', s, bias), [&](Plan& p) { buildForward(p, s, bias); }); }
Plan& dataPlan(const Shapes& s) { return plan(key('d', s, false), [&](Plan& p) { buildData(p, s); }); }
Plan& filterPlan(const Shapes& s) { return plan(key('w', s, false), [&](Plan& p) { buildFilter(p, s); }); }

void* data(const at::Tensor& t) { return const_cast<void*>(t.data_ptr()); }

// Scratch bytes from ATen's allocator (the addon's caching allocator: warm pages, no fresh mmap).
at::Tensor bytes(size_t n, const at::Tensor& like) {
  return at::empty({static_cast<int64_t>(std::max<size_t>(n, 1))}, like.options().dtype(at::kByte));
}

// The primitive's scratchpad, in bytes from ATen's allocator.
memory scratchpad(const Plan& p, at::Tensor& holder, const at::Tensor& like) {
  holder = bytes(p.scratchpad, like);
  return memory(memory::desc({static_cast<int64_t>(p.scratchpad)}, dt::u8, tag::x), engine(), data(holder));
}

// The filter as the primitive wants it: TF.js's hwio bf16 copy, reordered when the primitive's layout differs.
memory filterIn(Plan& p, const at::Tensor& w, at::Tensor& holder) {
  memory user(p.userFilter, engine(), data(w));
  if (!p.reorderFilter) return user;
  holder = bytes(p.filter.get_size(), w);
  memory m(p.filter, engine(), data(holder));
  p.filterReorder.execute(stream(), user, m);
  return m;
}

}  // namespace

bool available() { return true; }

at::Tensor forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const Geometry& g) {
  Shapes s = shapes(x.sizes(), w.sizes(), g);
  Plan& p = forwardPlan(s, bias.defined());
  if (!p.usable) return at::Tensor();
  at::Tensor y = at::empty({s.dst[0], s.dst[2], s.dst[3], s.dst[1]}, x.options().dtype(at::kFloat));
  at::Tensor filterHolder, scratch;
  memory filter = filterIn(p, w, filterHolder);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(memory::desc(s.src, dt::bf16, tag::nhwc), engine(), data(x))},
                                       {DNNL_ARG_WEIGHTS, filter},
                                       {DNNL_ARG_DST, memory(memory::desc(s.dst, dt::f32, tag::nhwc), engine(), data(y))},
                                       {DNNL_ARG_SCRATCHPAD, scratchpad(p, scratch, x)}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(memory::desc({s.dst[1]}, dt::f32, tag::x), engine(), data(bias)));
  p.prim.execute(stream(), args);
  stream().wait();
  return y;
}

at::Tensor backwardData(const at::Tensor& dy, const at::Tensor& w, at::IntArrayRef inShape, const Geometry& g) {
  Shapes s = shapes(inShape, w.sizes(), g);
  Plan& p = dataPlan(s);
  if (!p.usable) return at::Tensor();
  at::Tensor dx = at::empty(inShape, dy.options().dtype(at::kFloat));
  at::Tensor filterHolder, scratch;
  memory filter = filterIn(p, w, filterHolder);
  p.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, memory(memory::desc(s.dst, dt::bf16, tag::nhwc), engine(), data(dy))},
                            {DNNL_ARG_WEIGHTS, filter},
                            {DNNL_ARG_DIFF_SRC, memory(memory::desc(s.src, dt::f32, tag::nhwc), engine(), data(dx))},
                            {DNNL_ARG_SCRATCHPAD, scratchpad(p, scratch, dy)}});
  stream().wait();
  return dx;
}

at::Tensor backwardFilter(const at::Tensor& x, const at::Tensor& dy, at::IntArrayRef filterShape, const Geometry& g) {
  Shapes s = shapes(x.sizes(), filterShape, g);
  Plan& p = filterPlan(s);
  if (!p.usable) return at::Tensor();
  at::Tensor dw = at::empty(filterShape, x.options().dtype(at::kFloat));
  at::Tensor scratch, blocked;
  memory user(p.userFilter, engine(), data(dw));
  memory out = user;
  if (p.reorderFilter) {
    blocked = bytes(p.filter.get_size(), x);
    out = memory(p.filter, engine(), data(blocked));
  }
  p.prim.execute(stream(), {{DNNL_ARG_SRC, memory(memory::desc(s.src, dt::bf16, tag::nhwc), engine(), data(x))},
                            {DNNL_ARG_DIFF_DST, memory(memory::desc(s.dst, dt::bf16, tag::nhwc), engine(), data(dy))},
                            {DNNL_ARG_DIFF_WEIGHTS, out},
                            {DNNL_ARG_SCRATCHPAD, scratchpad(p, scratch, x)}});
  if (p.reorderFilter) p.filterReorder.execute(stream(), out, user);
  stream().wait();
  return dw;
}

std::string implementations() {
  std::string r;
  for (const auto& [what, impl] : chosen) r += what + ": " + impl + "\n";
  return r;
}

}  // namespace bf16conv

#else  // without oneDNN's headers: ATen's bf16 path only

namespace bf16conv {
bool available() { return false; }
at::Tensor forward(const at::Tensor&, const at::Tensor&, const at::Tensor&, const Geometry&) { return at::Tensor(); }
at::Tensor backwardData(const at::Tensor&, const at::Tensor&, at::IntArrayRef, const Geometry&) { return at::Tensor(); }
at::Tensor backwardFilter(const at::Tensor&, const at::Tensor&, at::IntArrayRef, const Geometry&) { return at::Tensor(); }
std::string implementations() { return ""; }
}  // namespace bf16conv

#endif
