// safetensors files (header section 21): a validated, memory-mapped file, and the writer.
//
// The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
// N, N bytes of JSON, then the data section. SafetensorsFile::open checks the whole header
// against the file before anything trusts it, with the rules of the reference implementation
// (safetensors' Rust Metadata::validate) and a few stricter ones (see safetensors.cpp); every
// problem is APH_ERR_SERIALIZATION "serialization error: {path}: {problem}". After open the
// object is immutable: any number of threads may read it at once.
#pragma once

#include "aphelion.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aph::exec {

struct TensorInfo {
    std::string name;
    aph_dtype dtype = APH_DTYPE_INVALID;
    std::vector<int64_t> shape;
    const void* data = nullptr;  // into the mapping; nullptr when nbytes is 0
    uint64_t nbytes = 0;
    uint64_t offset = 0;  // begin of data_offsets (in the data section)
};

class SafetensorsFile : public std::enable_shared_from_this<SafetensorsFile> {
public:
    // Maps and validates path. Throws APH_ERR_IO ("I/O error: {path}: {strerror}") when the file
    // cannot be opened, read or mapped, APH_ERR_SERIALIZATION for a malformed file.
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const noexcept { return path_; }
    // nullptr when there is no tensor of that name.
    const TensorInfo* find(const std::string& name) const noexcept;
    // As find, but throws APH_ERR_SERIALIZATION "serialization error: {path}: no tensor named
    // '{name}'".
    const TensorInfo& at(const std::string& name) const;
    // Every tensor, in the order of their data offsets (ties, which only zero-size tensors can
    // have, by name).
    const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
    // __metadata__ (empty when absent or null), and the same as compact JSON ("{}" when empty).
    const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
    std::string metadata_json() const;

    // A new reference to the tensor on device. On the CPU: a read-only tensor over the mapping
    // (no copy) that keeps this file (and so the mapping) alive; when the data is not aligned to
    // the element size in the file (never in files this library or the reference library
    // writes) a contiguous copy instead, since kernels read elements in place. Elsewhere: a copy
    // on the device (synchronous). info must come from this file.
    aph_tensor* tensor(const TensorInfo& info, aph_device* device) const;

private:
    SafetensorsFile() = default;

    std::string path_;
    void* map_ = nullptr;  // the whole file (nullptr when not mapped)
    size_t map_size_ = 0;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Writes tensors (any devices and layouts) to path as the reference writer (safetensors'
// Rust serialize_to_file, which its Python library calls) does: tensors sorted by dtype,
// largest alignment first, in the reference's Dtype order (I64 F64 F32 U32 I32 BF16 F16 I16
// F8_E4M3 F8_E5M2 I8 U8 BOOL), then by name (bytewise); the header lists "__metadata__" first
// (when given; its keys sorted) and then the tensors in that same order, compact JSON padded
// with spaces to a multiple of 8 bytes. With the tensors sorted so, every tensor's data is
// aligned to its element size in the file. metadata nullptr: no "__metadata__" (an empty map
// writes "__metadata__":{}, as the reference does for an empty dict). Writes a temporary file
// beside path and renames it over path (APH_ERR_IO "I/O error: {path}: {reason}" on failure;
// the temporary is removed). names must be distinct, non-empty, valid UTF-8 and not
// "__metadata__" (APH_ERR_INVALID_ARGUMENT naming the index).
void save_safetensors(const std::string& path, const std::vector<std::string>& names,
                      const std::vector<const aph_tensor*>& tensors,
                      const std::map<std::string, std::string>* metadata);

// Parses the C API's metadata_json: a JSON object of string values. Malformed JSON is
// APH_ERR_SERIALIZATION ("serialization error: metadata_json: ..."); another value, a value that
// is not a string or a key given twice is APH_ERR_INVALID_ARGUMENT naming it.
std::map<std::string, std::string> parse_metadata_json(std::string_view json);

// The safetensors dtype name ("F32", "BF16", "F8_E4M3", ...) of an aphelion dtype.
const char* safetensors_dtype_name(aph_dtype dtype) noexcept;

}  // namespace aph::exec
