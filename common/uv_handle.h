// UvHandle<T>: a move-only owner of a libuv handle. The handle lives on the heap; the
// destructor calls uv_close, and the close callback frees the memory, so a handle is never
// freed while libuv still references it. Loop thread only.
#pragma once

#include <uv.h>

#include <utility>

namespace fanout {

template <typename T>
class UvHandle {
 public:
  UvHandle() : h_(new T{}) {}
  ~UvHandle() { Close(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UvHandle& operator=(UvHandle&& o) noexcept {
    if (this != &o) {
      Close();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }

  T* get() const { return h_; }
  T* operator->() const { return h_; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }

  // Closes now (idempotent). A handle never initialised with uv_*_init is just freed.
  void Close() {
    if (h_ == nullptr) return;
    uv_handle_t* h = handle();
    if (h->loop != nullptr && !uv_is_closing(h)) {
      uv_close(h, [](uv_handle_t* p) { delete reinterpret_cast<T*>(p); });
    } else if (h->loop == nullptr) {
      delete h_;
    }
    h_ = nullptr;
  }

 private:
  T* h_;
};

}  // namespace fanout
