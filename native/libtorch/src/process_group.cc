// Distillery's process group: torch.distributed's c10d engine (TCPStore rendezvous + ProcessGroupGloo)
// behind a small N-API class. It is a separate addon (distillery_c10d.node) from the tensor backend so
// that the backend's "one OS thread" rule is untouched: every collective here runs on a libuv worker
// thread (Napi::AsyncWorker) and resolves a promise, so the JS event loop stays responsive while ranks
// exchange gradients.
//
// Buffers: collectives work in place on a Float32Array. The worker keeps a reference to the array for
// the duration of the call; the caller must not read or write it until the promise settles.
//
// Faults: Gloo fails an operation when a peer's socket closes (killed process) or when the group timeout
// passes (hung process), but its message names an address, not a rank. Each rank therefore bumps a
// heartbeat counter `hb/<rank>` in the store once a second from its own thread; `probe` reads all counters
// twice and reports the ranks whose counter did not move (or rank 0 when the store, which rank 0 hosts,
// no longer answers).
#include <napi.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using std::chrono::milliseconds;

struct Group {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int world = 1;
  milliseconds timeout{60000};
  std::thread heartbeat;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;

  void startHeartbeat() {
    heartbeat = std::thread([this] {
      const std::string key = "hb/" + std::to_string(rank);
      std::unique_lock<std::mutex> lock(mu);
      while (!stopping) {
        lock.unlock();
        try {
          store->add(key, 1);
        } catch (...) {
          // The store lives in rank 0; once it is gone there is no one to tell.
          return;
        }
        lock.lock();
        cv.wait_for(lock, milliseconds(1000), [this] { return stopping; });
      }
    });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  ~Group() { stop(); }
};

at::Tensor viewOf(float* data, size_t length) {
  return at::from_blob(data, {static_cast<int64_t>(length)}, at::TensorOptions().dtype(at::kFloat));
}

void waitWork(const c10::intrusive_ptr<c10d::Work>& work, milliseconds timeout) {
  // Work::wait rethrows the collective's own error (peer closed, Gloo timeout) or throws after `timeout`.
  work->wait(timeout);
}

// One collective (or the rendezvous) on a worker thread; settles `deferred` on the JS thread.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, std::function<void()> body, std::function<Napi::Value(Napi::Env)> result = nullptr)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), body_(std::move(body)), result_(std::move(result)) {}

  Napi::Promise promise() { return deferred_.Promise(); }
  void keep(Napi::Object o) { kept_.push_back(Napi::Persistent(o)); }

  void Execute() override {
    try {
      body_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(result_ ? result_(env) : env.Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> body_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<Napi::ObjectReference> kept_;
};

class ProcessGroup : public Napi::ObjectWrap<ProcessGroup> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup", {
      InstanceMethod<&ProcessGroup::Connect>("connect"),
      InstanceMethod<&ProcessGroup::AllReduce>("allReduce"),
      InstanceMethod<&ProcessGroup::Broadcast>("broadcast"),
      InstanceMethod<&ProcessGroup::AllGather>("allGather"),
      InstanceMethod<&ProcessGroup::Barrier>("barrier"),
      InstanceMethod<&ProcessGroup::Probe>("probe"),
      InstanceMethod<&ProcessGroup::Close>("close"),
    });
  }

  explicit ProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroup>(info) {}
  ~ProcessGroup() override { group_.reset(); }

 private:
  std::shared_ptr<Group> group_;

  std::shared_ptr<Group> need(Napi::Env env) {
    if (!group_) throw Napi::Error::New(env, "process group is not connected (or already closed)");
    return group_;
  }

  static float* floats(const Napi::Value& v, size_t* length) {
    auto a = v.As<Napi::Float32Array>();
    *length = a.ElementLength();
    return a.Data();
  }

  // connect(addr, port, rank, world, timeoutMs, rendezvousTimeoutMs, deviceHost, deviceInterface)
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string addr = info[0].As<Napi::String>();
    const int port = info[1].As<Napi::Number>().Int32Value();
    const int rank = info[2].As<Napi::Number>().Int32Value();
    const int world = info[3].As<Napi::Number>().Int32Value();
    const int64_t timeoutMs = info[4].As<Napi::Number>().Int64Value();
    const int64_t rendezvousMs = info[5].As<Napi::Number>().Int64Value();
    const std::string deviceHost = info[6].As<Napi::String>();
    const std::string deviceInterface = info[7].As<Napi::String>();
    auto group = std::make_shared<Group>();
    auto job = new Job(env, [=]() {
      c10d::TCPStoreOptions opts;
      opts.port = static_cast<uint16_t>(port);
      opts.isServer = rank == 0;
      opts.numWorkers = static_cast<size_t>(world);
      opts.waitWorkers = true;
      opts.timeout = milliseconds(rendezvousMs);
      group->store = c10::make_intrusive<c10d::TCPStore>(addr, opts);
      group->rank = rank;
      group->world = world;
      group->timeout = milliseconds(timeoutMs);
      // The store waits up to the rendezvous timeout for every rank to join (workers start at different
      // times); Gloo's contexts are made after that, so they get the per-operation timeout, which they keep.
      auto options = c10d::ProcessGroupGloo::Options::create(milliseconds(timeoutMs));
      if (!deviceInterface.empty()) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(deviceInterface));
      } else if (!deviceHost.empty()) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(deviceHost));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      options->threads = 1;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("pg", group->store);
      group->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world, options);
      group->store->setTimeout(milliseconds(timeoutMs));
      group->startHeartbeat();
    }, [this, group](Napi::Env env) -> Napi::Value {
      // Published only once the rendezvous succeeded (this runs on the JS thread).
      group_ = group;
      return env.Undefined();
    });
    auto promise = job->promise();
    job->keep(info.This().As<Napi::Object>());
    job->Queue();
    return promise;
  }

  // allReduce(buffer: Float32Array, op: 'sum' | 'mean') — in place.
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto g = need(env);
    size_t n;
    float* data = floats(info[0], &n);
    const std::string op = info[1].As<Napi::String>();
    if (op != "sum" && op != "mean") throw Napi::Error::New(env, "allReduce: op must be 'sum' or 'mean', got '" + op + "'");
    auto job = new Job(env, [g, data, n, op]() {
      std::vector<at::Tensor> ts{viewOf(data, n)};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      o.timeout = g->timeout;
      waitWork(g->pg->allreduce(ts, o), g->timeout);
      if (op == "mean") ts[0].div_(static_cast<double>(g->world));
    });
    job->keep(info[0].As<Napi::Object>());
    job->Queue();
    return job->promise();
  }

  // broadcast(buffer: Float32Array, root: number) — in place.
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto g = need(env);
    size_t n;
    float* data = floats(info[0], &n);
    const int root = info[1].As<Napi::Number>().Int32Value();
    auto job = new Job(env, [g, data, n, root]() {
      std::vector<at::Tensor> ts{viewOf(data, n)};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      o.timeout = g->timeout;
      waitWork(g->pg->broadcast(ts, o), g->timeout);
    });
    job->keep(info[0].As<Napi::Object>());
    job->Queue();
    return job->promise();
  }

  // allGather(buffer: Float32Array, out: Float32Array of world × buffer.length) — rank r's buffer lands at
  // out[r × n, (r + 1) × n).
  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto g = need(env);
    size_t n, m;
    float* data = floats(info[0], &n);
    float* out = floats(info[1], &m);
    if (m != n * static_cast<size_t>(g->world)) {
      throw Napi::Error::New(env, "allGather: output has " + std::to_string(m) + " values, expected world size × input = " +
                                      std::to_string(n * g->world));
    }
    auto job = new Job(env, [g, data, n, out]() {
      std::vector<at::Tensor> in{viewOf(data, n)};
      std::vector<std::vector<at::Tensor>> outs(1);
      for (int r = 0; r < g->world; ++r) outs[0].push_back(viewOf(out + r * n, n));
      c10d::AllgatherOptions o;
      o.timeout = g->timeout;
      waitWork(g->pg->allgather(outs, in, o), g->timeout);
    });
    job->keep(info[0].As<Napi::Object>());
    job->keep(info[1].As<Napi::Object>());
    job->Queue();
    return job->promise();
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto g = need(env);
    auto job = new Job(env, [g]() {
      c10d::BarrierOptions o;
      o.timeout = g->timeout;
      waitWork(g->pg->barrier(o), g->timeout);
    });
    job->Queue();
    return job->promise();
  }

  // probe(windowMs) → ranks whose heartbeat did not advance within the window (see the header comment).
  Napi::Value Probe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto g = need(env);
    const int64_t windowMs = info[0].As<Napi::Number>().Int64Value();
    auto missing = std::make_shared<std::vector<int>>();
    auto job = new Job(
        env,
        [g, windowMs, missing]() {
          std::vector<int64_t> before(g->world), after(g->world);
          try {
            for (int r = 0; r < g->world; ++r) before[r] = g->store->add("hb/" + std::to_string(r), 0);
            std::this_thread::sleep_for(milliseconds(windowMs));
            for (int r = 0; r < g->world; ++r) after[r] = g->store->add("hb/" + std::to_string(r), 0);
          } catch (...) {
            if (g->rank != 0) missing->push_back(0);
            return;
          }
          for (int r = 0; r < g->world; ++r) {
            if (r != g->rank && after[r] == before[r]) missing->push_back(r);
          }
        },
        [missing](Napi::Env env) -> Napi::Value {
          auto out = Napi::Array::New(env, missing->size());
          for (size_t i = 0; i < missing->size(); ++i) out.Set(i, Napi::Number::New(env, (*missing)[i]));
          return out;
        });
    job->Queue();
    return job->promise();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (group_) {
      group_->stop();
      group_.reset();
    }
    return info.Env().Undefined();
  }
};

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessGroup", ProcessGroup::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(distillery_c10d, Module)
