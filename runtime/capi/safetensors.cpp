// C API, section 21: safetensors files.
#include "../capi/cstring.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../exec/safetensors.hpp"

#include <cstring>

// The handle: a reference to the shared, immutable file (tensors made from it hold more).
struct aph_safetensors {
    std::shared_ptr<aph::exec::SafetensorsFile> file;
};

extern "C" {

APH_API aph_status aph_safetensors_open(const char* path, aph_safetensors** out) {
    return aph::guard([&] {
        aph::require_arg(path, "path");
        aph::require_arg(out, "out");
        auto* h = new aph_safetensors{aph::exec::SafetensorsFile::open(path)};
        *out = h;
    });
}

APH_API void aph_safetensors_release(aph_safetensors* file) { delete file; }

APH_API size_t aph_safetensors_count(const aph_safetensors* file) { return file ? file->file->tensors().size() : 0; }

APH_API const char* aph_safetensors_name(const aph_safetensors* file, size_t index) {
    if (file == nullptr || index >= file->file->tensors().size()) return nullptr;
    return file->file->tensors()[index].name.c_str();
}

APH_API aph_status aph_safetensors_metadata(const aph_safetensors* file, char** out) {
    return aph::guard([&] {
        aph::require_arg(file, "file");
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(file->file->metadata_json());
    });
}

APH_API aph_status aph_safetensors_info(const aph_safetensors* file, const char* name, aph_dtype* out_dtype,
                                        int64_t* out_shape, size_t capacity, size_t* out_ndim) {
    return aph::guard([&] {
        aph::require_arg(file, "file");
        aph::require_arg(name, "name");
        const aph::exec::TensorInfo& info = file->file->at(name);
        if (out_shape != nullptr && capacity < info.shape.size())
            throw aph::invalid_argument(aph::strprintf("capacity is %zu, but tensor '%s' has %zu dimensions", capacity,
                                                       name, info.shape.size()));
        if (out_dtype) *out_dtype = info.dtype;
        if (out_shape && !info.shape.empty()) {
            std::memcpy(out_shape, info.shape.data(), info.shape.size() * sizeof(int64_t));
        }
        if (out_ndim) *out_ndim = info.shape.size();
    });
}

APH_API aph_status aph_safetensors_tensor(const aph_safetensors* file, const char* name, aph_device* device,
                                          aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(file, "file");
        aph::require_arg(name, "name");
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = file->file->tensor(file->file->at(name), device);
    });
}

APH_API aph_status aph_safetensors_save(const char* path, const char* const* names, const aph_tensor* const* tensors,
                                        size_t count, const char* metadata_json) {
    return aph::guard([&] {
        aph::require_arg(path, "path");
        if (count > 0) {
            aph::require_arg(names, "names");
            aph::require_arg(tensors, "tensors");
        }
        std::vector<std::string> n;
        std::vector<const aph_tensor*> t(tensors, tensors + count);
        n.reserve(count);
        for (size_t i = 0; i < count; ++i) {
            if (names[i] == nullptr) throw aph::invalid_argument(aph::strprintf("names[%zu] must not be NULL", i));
            n.emplace_back(names[i]);
        }
        std::map<std::string, std::string> meta;
        if (metadata_json != nullptr) meta = aph::exec::parse_metadata_json(metadata_json);
        aph::exec::save_safetensors(path, n, t, metadata_json ? &meta : nullptr);
    });
}

}  // extern "C"
