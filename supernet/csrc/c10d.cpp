// moga's bridge to PyTorch's distributed engine (c10d): a process group from a c10d
// store, and the collectives data-parallel training needs, behind a C API. Every C++
// exception is caught here and returned as a message (a C++ exception must not unwind
// into Rust).
//
// Gloo: the torch wheel ships c10d's headers but not Gloo's, and ProcessGroupGloo.hpp
// includes Gloo's. The Gloo backend is therefore reached through what libtorch_cpu.so
// exports and what c10d's own Backend interface declares: the exported
// `ProcessGroupGloo::Options::create_default` and constructor are declared below by
// their signatures alone (no member of the class is touched from here), the object is
// constructed in storage far larger than it needs (`kStorage`; `moga_c10d_footprint`
// measures what the constructor wrote, and a test keeps it well inside), and from then on
// it is used only as a `c10d::Backend`, whose virtual interface is in the headers.
// Built against the libtorch of `.deps/` (build.rs); MOGA_C10D_TORCH_VERSION records it,
// and the Rust side refuses a different libtorch at run time.
//
// NCCL (CUDA hosts, cargo feature `nccl`, which defines MOGA_NCCL): the wheel's
// ProcessGroupNCCL.hpp pulls in the headers of the whole CUDA toolkit (cuSPARSE, cuBLAS,
// CCCL, ...), which the wheels do not ship. It is reached like Gloo instead: the
// constructors libtorch_cuda.so exports (`ProcessGroupNCCL::Options::Options(bool)` and
// `ProcessGroupNCCL(store, rank, size, options)`) declared by signature, both objects
// constructed in ample storage, then used through c10d's Backend interface. Without the
// feature `moga_c10d_nccl` exists and says how to get it.

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/headeronly/version.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <string>
#include <vector>

namespace c10d {
// Declarations matching symbols libtorch_cpu.so exports (see the file's header).
class ProcessGroupGloo : public Backend {
 public:
  struct Options : public Backend::Options {
    static c10::intrusive_ptr<Options> create_default(std::chrono::milliseconds timeout);
  };
  ProcessGroupGloo(const c10::intrusive_ptr<Store>& store, int rank, int size,
                   c10::intrusive_ptr<Options> options);
};
#ifdef MOGA_NCCL
// Declarations matching symbols libtorch_cuda.so exports.
class ProcessGroupNCCL : public Backend {
 public:
  struct Options : Backend::Options {
    explicit Options(bool is_high_priority_stream);
  };
  ProcessGroupNCCL(c10::intrusive_ptr<Store> store, int rank, int size,
                   c10::intrusive_ptr<Options> options);
};
#endif
}  // namespace c10d

namespace {

constexpr std::size_t kStorage = 1 << 16;
constexpr unsigned char kCanary = 0xA5;

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::size_t footprint = 0;
};

char* message(const std::string& s) {
  char* m = static_cast<char*>(std::malloc(s.size() + 1));
  if (m) std::memcpy(m, s.c_str(), s.size() + 1);
  return m;
}

// Runs `f`, turning any exception into a message in *err; 0 on success, -1 otherwise.
template <typename F>
int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = message(e.what());
  } catch (...) {
    *err = message("unknown C++ exception");
  }
  return -1;
}

// Runs `collective` on one flat bucket of the `n` tensors (at::Tensor*), then copies
// the bucket's values back into them; no autograd records the copies.
template <typename F>
void bucketed(void** ptrs, int n, F&& collective) {
  c10::NoGradGuard no_grad;
  if (n <= 0) return;
  std::vector<at::Tensor> ts, flat;
  ts.reserve(n);
  flat.reserve(n);
  for (int i = 0; i < n; i++) {
    ts.push_back(*static_cast<at::Tensor*>(ptrs[i]));
    flat.push_back(ts.back().reshape({-1}));
  }
  std::vector<at::Tensor> bucket = {at::cat(flat)};
  collective(bucket);
  int64_t off = 0;
  for (auto& t : ts) {
    int64_t k = t.numel();
    t.copy_(bucket[0].narrow(0, off, k).view(t.sizes()));
    off += k;
  }
}

// Constructs a T (declared here by its exported constructor only, so its size is not
// known here) with `make(storage)` in kStorage canary-filled bytes; returns it and
// how many bytes its constructor wrote.
template <typename T, typename F>
std::pair<T*, std::size_t> constructed(F&& make) {
  void* mem = ::operator new(kStorage);
  std::memset(mem, kCanary, kStorage);
  T* t;
  try {
    t = make(mem);
  } catch (...) {
    ::operator delete(mem);
    throw;
  }
  auto* bytes = static_cast<unsigned char*>(mem);
  std::size_t used = kStorage;
  while (used > 0 && bytes[used - 1] == kCanary) used--;
  return {t, used};
}

// A group owning `store` and `backend` (from `constructed`, `footprint` bytes written).
Group* new_group(c10::intrusive_ptr<c10d::Store> store, c10d::Backend* backend,
                 std::size_t footprint) {
  auto* group = new Group();
  group->store = std::move(store);
  group->backend = c10::intrusive_ptr<c10d::Backend>::unsafe_steal_from_new(backend);
  group->footprint = footprint;
  return group;
}

// The store of a group: a FileStore at `store_path` (tests, one host) or else a
// TCPStore client of host:port (its server too with `serve`), keys under `prefix`.
c10::intrusive_ptr<c10d::Store> make_store(const char* store_path, const char* host, int port,
                                           int serve, const char* prefix, int size,
                                           std::chrono::milliseconds timeout) {
  c10::intrusive_ptr<c10d::Store> base;
  if (store_path) {
    base = c10::make_intrusive<c10d::FileStore>(store_path, size);
  } else {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = serve != 0;
    o.numWorkers = size;
    o.waitWorkers = false;
    o.timeout = timeout;
    base = c10::make_intrusive<c10d::TCPStore>(host, o);
  }
  base->setTimeout(timeout);
  return c10::make_intrusive<c10d::PrefixStore>(prefix, base);
}

}  // namespace

extern "C" {

const char* moga_c10d_torch_version() { return TORCH_VERSION; }

void moga_c10d_free_message(char* m) { std::free(m); }

// A Gloo process group. `store_path` non-null: a FileStore at that path (tests, one
// host); otherwise a TCPStore client of host:port (rank 0 also serves it when
// `serve` is set; torchrun's agent already serves one, and then every rank is a
// client). Keys are prefixed with `prefix`.
void* moga_c10d_gloo(const char* store_path, const char* host, int port, int serve,
                     const char* prefix, int rank, int size, int64_t timeout_ms,
                     char** err) {
  Group* g = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = make_store(store_path, host, port, serve, prefix, size, timeout);
    auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    auto made = constructed<c10d::ProcessGroupGloo>([&](void* m) {
      return new (m) c10d::ProcessGroupGloo(store, rank, size, std::move(options));
    });
    g = new_group(store, made.first, made.second);
  });
  return g;
}

// An NCCL process group (CUDA tensors), on the same stores as the Gloo one.
void* moga_c10d_nccl(const char* store_path, const char* host, int port, int serve,
                     const char* prefix, int rank, int size, int64_t timeout_ms,
                     char** err) {
  Group* g = nullptr;
#ifdef MOGA_NCCL
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto store = make_store(store_path, host, port, serve, prefix, size, timeout);
    using Nccl = c10d::ProcessGroupNCCL;
    auto options = c10::intrusive_ptr<Nccl::Options>::unsafe_steal_from_new(
        constructed<Nccl::Options>([](void* m) { return new (m) Nccl::Options(false); }).first);
    static_cast<c10d::Backend::Options*>(options.get())->timeout = timeout;
    auto made = constructed<Nccl>(
        [&](void* m) { return new (m) Nccl(store, rank, size, std::move(options)); });
    g = new_group(store, made.first, made.second);
  });
#else
  (void)store_path, (void)host, (void)port, (void)serve, (void)prefix, (void)rank, (void)size,
      (void)timeout_ms;
  *err = message(
      "this moga was built without NCCL: on a CUDA host run scripts/setup.sh --cuda, then "
      "cargo build --release -p moga -p moga-torch --features moga-torch/nccl");
#endif
  return g;
}

void moga_c10d_free(void* group) { delete static_cast<Group*>(group); }

// Bytes of the Gloo object's storage its constructor wrote (an upper bound on its size).
std::size_t moga_c10d_footprint(void* group) {
  return static_cast<Group*>(group)->footprint;
}
std::size_t moga_c10d_storage() { return kStorage; }

const char* moga_c10d_backend_name(void* group, char** err) {
  static thread_local std::string name;
  int rc = guarded(err, [&] { name = static_cast<Group*>(group)->backend->getBackendName(); });
  return rc == 0 ? name.c_str() : nullptr;
}

// Sums `n` tensors (one dtype) across ranks in place, as one flat bucket.
int moga_c10d_allreduce_sum(void* group, void** tensors, int n, char** err) {
  return guarded(err, [&] {
    bucketed(tensors, n, [&](std::vector<at::Tensor>& bucket) {
      static_cast<Group*>(group)->backend->allreduce(bucket)->wait();
    });
  });
}

// Every rank's tensors take `root`'s values, one flat bucket.
int moga_c10d_broadcast(void* group, void** tensors, int n, int root, char** err) {
  return guarded(err, [&] {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    bucketed(tensors, n, [&](std::vector<at::Tensor>& bucket) {
      static_cast<Group*>(group)->backend->broadcast(bucket, o)->wait();
    });
  });
}

// Adds `delta` to the store's counter `key` (under the group's prefix) and returns its
// new value in *value; delta 0 reads it. Ranks use it to say who is still there after
// a collective failed.
int moga_c10d_store_add(void* group, const char* key, int64_t delta, int64_t* value,
                        char** err) {
  return guarded(err, [&] { *value = static_cast<Group*>(group)->store->add(key, delta); });
}

int moga_c10d_barrier(void* group, char** err) {
  return guarded(err, [&] { static_cast<Group*>(group)->backend->barrier()->wait(); });
}

}  // extern "C"
