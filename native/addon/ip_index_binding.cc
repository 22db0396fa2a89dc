// napi adapter for core/ip_index and core/mapped_ip_index: one JS class over either (a mapped
// index is read-only: add is refused), a HandleWrap (explicit close(), calls in flight counted,
// native_handle.h), searches sharing a lock and adds taking it alone (Faiss HNSW is not safe for
// concurrent add and search).
#include <napi.h>

#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "../core/ip_index.h"
#include "../core/mapped_ip_index.h"
#include "../core/maxsim.h"
#include "js_errors.h"
#include "native_handle.h"
#include "progress_binding.h"
#include "promise_worker.h"
#include "typed_arrays.h"

namespace lemur {

namespace {

struct SharedIndex {
  std::unique_ptr<IpIndexBase> index;
  IpIndex* writable = nullptr;  // the same object when Faiss holds it; null when mapped
  mutable std::shared_mutex lock;
};

class IpIndexWrap : public HandleWrap<IpIndexWrap, SharedIndex> {
 public:
  static constexpr const char* kWhat = "index";

  static void Init(Napi::Env env, Napi::Object exports) {
    Define(env, "NativeIpIndex",
           {InstanceMethod<&IpIndexWrap::Info>("info"), InstanceMethod<&IpIndexWrap::Add>("add"),
            InstanceMethod<&IpIndexWrap::Search>("search"), InstanceMethod<&IpIndexWrap::Scan>("scan"),
            InstanceMethod<&IpIndexWrap::Reconstruct>("reconstruct"),
            InstanceMethod<&IpIndexWrap::ReconstructRange>("reconstructRange"),
            InstanceMethod<&IpIndexWrap::WriteFile>("writeFile"), InstanceMethod<&IpIndexWrap::Serialize>("serialize")});
    exports.Set("createIpIndex", Napi::Function::New(env, Create, "createIpIndex"));
    exports.Set("readIpIndex", Napi::Function::New(env, Read, "readIpIndex"));
    exports.Set("mapIpIndex", Napi::Function::New(env, Map, "mapIpIndex"));
    exports.Set("deserializeIpIndex", Napi::Function::New(env, Deserialize, "deserializeIpIndex"));
  }

  explicit IpIndexWrap(const Napi::CallbackInfo& info) : HandleWrap(info) {}

 private:
  static Napi::Object Own(std::unique_ptr<IpIndex> ix) {
    auto s = std::make_shared<SharedIndex>();
    s->writable = ix.get();
    s->index = std::move(ix);
    return New(std::move(s));
  }
  static Napi::Object Own(std::unique_ptr<MappedIpIndex> ix) {
    auto s = std::make_shared<SharedIndex>();
    s->index = std::move(ix);
    return New(std::move(s));
  }

  // createIpIndex(d, kind, M, efConstruction, kernel, storage) -> NativeIpIndex (O(1), synchronous)
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    const int d = static_cast<int>(int_arg(info, 0, "d", 1, 1 << 20));
    const std::string kind = string_arg(info, 1, "kind");
    IpIndexParams p;
    if (kind == "hnsw") p.kind = IpIndexKind::kHnsw;
    else if (kind == "flat") p.kind = IpIndexKind::kFlat;
    else throw_invalid_argument(info.Env(), "index kind must be 'hnsw' or 'flat'");
    p.M = static_cast<int>(int_arg(info, 2, "M", 2, 512));
    p.ef_construction = static_cast<int>(int_arg(info, 3, "efConstruction", 1, 1 << 16));
    const Kernel kernel = kernel_arg(info, 4);
    Status enc = parse_row_encoding(info.Length() > 5 && info[5].IsString() ? string_arg(info, 5, "storage") : "fp32", &p.storage);
    if (!enc.ok()) throw_status(info.Env(), enc);
    std::unique_ptr<IpIndex> ix;
    Status st = IpIndex::create(d, p, kernel, &ix);
    if (!st.ok()) throw_status(info.Env(), st);
    return Own(std::move(ix));
  }

  // (path, kernel) -> Promise<NativeIpIndex>, `open` run on a pool thread
  template <class T>
  static Napi::Value OpenPath(const Napi::CallbackInfo& info, Status (*open)(const std::string&, Kernel, std::unique_ptr<T>*)) {
    const std::string path = string_arg(info, 0, "path");
    const Kernel k = kernel_arg(info, 1);
    auto slot = std::make_shared<std::unique_ptr<T>>();
    return PromiseWorker::Start(
        info.Env(), [=]() { return open(path, k, slot.get()); },
        [slot](Napi::Env, const PromiseWorker::Kept&) { return Own(std::move(*slot)); });
  }

  // readIpIndex(path, kernel): read into the heap by Faiss
  static Napi::Value Read(const Napi::CallbackInfo& info) { return OpenPath<IpIndex>(info, &IpIndex::read_file); }

  // mapIpIndex(path, kernel): the file mapped, read-only
  static Napi::Value Map(const Napi::CallbackInfo& info) { return OpenPath<MappedIpIndex>(info, &MappedIpIndex::open); }

  // deserializeIpIndex(bytes: Uint8Array, kernel) -> Promise<NativeIpIndex>
  static Napi::Value Deserialize(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw_invalid_argument(info.Env(), "argument bytes must be a Uint8Array");
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    const Kernel k = kernel_arg(info, 1);
    const uint8_t* p = bytes.Data();
    const size_t n = bytes.ByteLength();
    auto slot = std::make_shared<std::unique_ptr<IpIndex>>();
    return PromiseWorker::Start(
        info.Env(), [=]() { return IpIndex::deserialize(p, n, k, slot.get()); },
        [slot](Napi::Env, const PromiseWorker::Kept&) { return Own(std::move(*slot)); }, {bytes});
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SharedIndex& shared = live(env);
    std::shared_lock<std::shared_mutex> g(shared.lock);
    const IpIndexBase& ix = *shared.index;
    Napi::Object o = Napi::Object::New(env);
    o.Set("d", ix.d());
    o.Set("ntotal", static_cast<double>(ix.ntotal()));
    o.Set("kind", ix.kind() == IpIndexKind::kHnsw ? "hnsw" : "flat");
    o.Set("M", ix.M());
    o.Set("efConstruction", ix.ef_construction());
    o.Set("storage", row_encoding_name(ix.storage()));
    o.Set("bytesPerVector", static_cast<double>(ix.bytes_per_vector()));
    o.Set("mapped", shared.writable == nullptr);
    return o;
  }

  // add(x: Float32Array (n x d), ids: BigInt64Array (n), threads, onProgress?) -> Promise<void>;
  // onProgress(done, total) counts vectors linked into the graph.
  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Float32Array x = f32_arg(info, 0, "vectors");
    Napi::BigInt64Array ids = i64_arg(info, 1, "ids");
    const int threads = static_cast<int>(int_arg(info, 2, "threads", 1, 1024));
    UsePtr<SharedIndex> use = acquire(env);
    std::shared_ptr<SharedIndex> s = use->object();
    if (!s->writable) throw_invalid_argument(env, "a memory-mapped index is read-only: add() needs IpIndex.load without mmap");
    const int d = s->index->d();
    if (x.ElementLength() != ids.ElementLength() * static_cast<size_t>(d)) throw_invalid_argument(env, "vectors length != ids length * d");
    const float* xp = x.Data();
    const int64_t* ip = ids.Data();
    const int64_t n = static_cast<int64_t>(ids.ElementLength());
    std::shared_ptr<JsProgress> progress = JsProgress::FromArg(info, 3, "onProgress");
    return PromiseWorker::Start(
        env,
        [=]() {
          return run_with_progress(progress, [&](const ProgressFn& fn) {
            std::unique_lock<std::shared_mutex> g(s->lock);
            return s->writable->add(xp, ip, n, threads, fn);
          });
        },
        nullptr, {x, ids, info.This()}, {use});
  }

  // search(q: Float32Array (nq x d), k, efSearch, threads) -> Promise<{ labels, distances }>
  // The shape both top-k calls share: queries (nq x d) and k from the arguments, the result
  // arrays allocated here, `run` on a pool thread under the index's shared lock.
  using TopKRun = std::function<Status(const IpIndexBase&, const float*, int64_t, int64_t, int64_t*, float*)>;
  Napi::Value TopK(const Napi::CallbackInfo& info, TopKRun run) {
    Napi::Env env = info.Env();
    Napi::Float32Array q = f32_arg(info, 0, "queries");
    const int64_t k = int_arg(info, 1, "k", 1, int64_t{1} << 30);
    UsePtr<SharedIndex> use = acquire(env);
    std::shared_ptr<SharedIndex> s = use->object();
    const int d = s->index->d();
    if (q.ElementLength() % d != 0) throw_invalid_argument(env, "queries length is not a multiple of d");
    const int64_t nq = static_cast<int64_t>(q.ElementLength()) / d;
    Napi::BigInt64Array labels = Napi::BigInt64Array::New(env, nq * k);
    Napi::Float32Array distances = Napi::Float32Array::New(env, nq * k);
    const float* qp = q.Data();
    int64_t* lp = labels.Data();
    float* dp = distances.Data();
    return PromiseWorker::Start(
        env, [=]() { std::shared_lock<std::shared_mutex> g(s->lock); return run(*s->index, qp, nq, k, lp, dp); },
        [](Napi::Env env, const PromiseWorker::Kept& kept) { return hits_object(env, kept); },
        {labels, distances, q, info.This()}, {use});
  }

  Napi::Value Search(const Napi::CallbackInfo& info) {
    const int ef = static_cast<int>(int_arg(info, 2, "efSearch", 1, 1 << 20));
    const int threads = static_cast<int>(int_arg(info, 3, "threads", 1, 1024));
    return TopK(info, [=](const IpIndexBase& ix, const float* q, int64_t nq, int64_t k, int64_t* l, float* dist) { return ix.search(q, nq, k, ef, threads, l, dist); });
  }

  // scan(q: Float32Array (nq x d), k, threads) -> Promise<{ labels, distances }>: exact top-k
  // over every stored row by the index's inner product
  Napi::Value Scan(const Napi::CallbackInfo& info) {
    const int threads = static_cast<int>(int_arg(info, 2, "threads", 1, 1024));
    return TopK(info, [=](const IpIndexBase& ix, const float* q, int64_t nq, int64_t k, int64_t* l, float* dist) { return ix.scan(q, nq, k, threads, l, dist); });
  }

  // reconstruct(ids: BigInt64Array (n), threads, out: Float32Array (n x d)) -> Promise<out>
  Napi::Value Reconstruct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::BigInt64Array ids = i64_arg(info, 0, "ids");
    const int threads = static_cast<int>(int_arg(info, 1, "threads", 1, 1024));
    Napi::Float32Array out = f32_arg(info, 2, "out");
    UsePtr<SharedIndex> use = acquire(env);
    std::shared_ptr<SharedIndex> s = use->object();
    const int64_t n = static_cast<int64_t>(ids.ElementLength());
    if (out.ElementLength() != static_cast<size_t>(n) * s->index->d()) throw_invalid_argument(env, "out length != ids length * d");
    const int64_t* ip = ids.Data();
    float* op = out.Data();
    return PromiseWorker::Start(
        env, [=]() { std::shared_lock<std::shared_mutex> g(s->lock); return s->index->reconstruct(ip, n, threads, op); },
        [](Napi::Env, const PromiseWorker::Kept& kept) { return kept[0].Value(); }, {out, ids, info.This()}, {use});
  }

  // reconstructRange(start, n, threads, out: Float32Array (n x d)) -> Promise<out>
  Napi::Value ReconstructRange(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t start = int_arg(info, 0, "start", 0, int64_t{1} << 50);
    const int64_t n = int_arg(info, 1, "n", 0, int64_t{1} << 50);
    const int threads = static_cast<int>(int_arg(info, 2, "threads", 1, 1024));
    Napi::Float32Array out = f32_arg(info, 3, "out");
    UsePtr<SharedIndex> use = acquire(env);
    std::shared_ptr<SharedIndex> s = use->object();
    if (out.ElementLength() != static_cast<size_t>(n) * s->index->d()) throw_invalid_argument(env, "out length != n * d");
    float* op = out.Data();
    return PromiseWorker::Start(
        env,
        [=]() { std::shared_lock<std::shared_mutex> g(s->lock); return s->index->reconstruct_range(start, n, threads, op); },
        [](Napi::Env, const PromiseWorker::Kept& kept) { return kept[0].Value(); }, {out, info.This()}, {use});
  }

  // writeFile(path) -> Promise<void>
  Napi::Value WriteFile(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    UsePtr<SharedIndex> use = acquire(info.Env());
    std::shared_ptr<SharedIndex> s = use->object();
    return PromiseWorker::Start(
        info.Env(), [=]() { std::shared_lock<std::shared_mutex> g(s->lock); return s->index->write_file(path); }, nullptr,
        {info.This()}, {use});
  }

  // serialize() -> Promise<Uint8Array>
  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    UsePtr<SharedIndex> use = acquire(info.Env());
    std::shared_ptr<SharedIndex> s = use->object();
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    return PromiseWorker::Start(
        info.Env(), [=]() { std::shared_lock<std::shared_mutex> g(s->lock); return s->index->serialize(bytes.get()); },
        [bytes](Napi::Env env, const PromiseWorker::Kept&) {
          Napi::Uint8Array out = Napi::Uint8Array::New(env, bytes->size());
          std::copy(bytes->begin(), bytes->end(), out.Data());
          return out;
        },
        {info.This()}, {use});
  }
};

}  // namespace

namespace {

// ipKernelDot(a, b, d, kernel, out) -> Promise<out>: out[i] = <a row i, b row i> under one
// kernel's dot, the HNSW distance. Lets tests check that every kernel gives the same bits.
Napi::Value KernelDot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = f32_arg(info, 0, "a");
  Napi::Float32Array b = f32_arg(info, 1, "b");
  const int d = static_cast<int>(int_arg(info, 2, "d", 1, 1 << 20));
  const Kernel k = kernel_arg(info, 3);
  Napi::Float32Array out = f32_arg(info, 4, "out");
  const size_t n = out.ElementLength();
  if (a.ElementLength() != n * d || b.ElementLength() != n * d) throw_invalid_argument(env, "a and b must be out.length x d");
  const float* ap = a.Data();
  const float* bp = b.Data();
  float* op = out.Data();
  return PromiseWorker::Start(
      env,
      [=]() {
        const KernelTable& kt = kernel_table(k);
        for (size_t i = 0; i < n; ++i) op[i] = kt.dot(ap + i * d, bp + i * d, d);
        return Status::Ok();
      },
      [](Napi::Env, const PromiseWorker::Kept& kept) { return kept[2].Value(); }, {a, b, out});
}

}  // namespace

void InitIpIndex(Napi::Env env, Napi::Object exports) {
  IpIndexWrap::Init(env, exports);
  exports.Set("ipKernelDot", Napi::Function::New(env, KernelDot, "ipKernelDot"));
}

}  // namespace lemur
