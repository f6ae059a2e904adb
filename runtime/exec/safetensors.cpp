// safetensors files: the reader (validate, then memory-map) and the writer.
//
// Validation follows the reference implementation (huggingface/safetensors, Rust crate:
// SafeTensors::read_metadata and Metadata::validate), so that every file it loads loads here and
// every file it rejects is rejected here:
//  - the file holds at least the 8-byte length N; N is at most 100,000,000 (its
//    MAX_HEADER_SIZE) and 8 + N fits in the file;
//  - the header is UTF-8 JSON (nlohmann checks the encoding), an object whose "__metadata__"
//    (optional, may be null) is an object of string values and whose other entries are objects
//    with "dtype" (a known name), "shape" (non-negative integers) and "data_offsets" (exactly two
//    non-negative integers, begin <= end) (other fields are ignored, as serde ignores them);
//  - end - begin is numel × dtype size, computed without overflow;
//  - sorted by data_offsets, the tensors cover the data section exactly: the first begins at 0,
//    each begins where the previous ends (no holes, no overlaps), the last ends at the end of
//    the file.
// Stricter than the reference: duplicate keys (a tensor name or a field given twice, which
// serde resolves silently for tensor names) are errors, since the file is ambiguous; shapes have
// at most APH_TENSOR_MAX_DIMS dimensions and at most INT64_MAX bytes (libaphelion's tensor
// limits); dtypes the reference knows but libaphelion lacks (U16, U64, C64, F8_E8M0, ...) are
// errors that say so.
#include "safetensors.hpp"

#include "../core/device.hpp"
#include "../core/dtype.hpp"
#include "../core/error.hpp"
#include "../core/fault.hpp"
#include "../core/memory.hpp"
#include "../core/tensor.hpp"
#include "../graph/serde_json.hpp"

#include "../core/json.hpp"  // nlohmann/json, with its destructor made safe to run out of memory

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts would need byte swaps");

namespace aph::exec {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxHeaderSize = 100000000;  // the reference's MAX_HEADER_SIZE

// The safetensors dtypes libaphelion has, with their reference Dtype enum rank (the enum is
// declared "in increasing alignment order"; the writer sorts by it, descending).
struct DtypeEntry {
    const char* name;
    aph_dtype dtype;
    int rank;
};
constexpr DtypeEntry kDtypes[] = {
    {"BOOL", APH_DTYPE_BOOL, 0},      {"U8", APH_DTYPE_U8, 1},          {"I8", APH_DTYPE_I8, 2},
    {"F8_E5M2", APH_DTYPE_F8E5M2, 3}, {"F8_E4M3", APH_DTYPE_F8E4M3, 4}, {"I16", APH_DTYPE_I16, 5},
    {"F16", APH_DTYPE_F16, 6},        {"BF16", APH_DTYPE_BF16, 7},      {"I32", APH_DTYPE_I32, 8},
    {"U32", APH_DTYPE_U32, 9},        {"F32", APH_DTYPE_F32, 10},       {"F64", APH_DTYPE_F64, 11},
    {"I64", APH_DTYPE_I64, 12},
};
// The reference's other dtypes (safetensors 0.6-0.8), named in the error.
constexpr const char* kUnsupported[] = {"F4",          "F6_E2M3", "F6_E3M2", "F8_E8M0", "F8_E4M3FNUZ",
                                        "F8_E5M2FNUZ", "U16",     "C64",     "U64"};
constexpr const char* kSupportedList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, U32, BOOL, F8_E4M3, F8_E5M2";

const DtypeEntry* dtype_entry(aph_dtype d) noexcept {
    for (const auto& e : kDtypes) {
        if (e.dtype == d) return &e;
    }
    return nullptr;
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

// "a string", "an array", ...: the JSON type with its article, for messages.
std::string a_type(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::boolean: return "a bool";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned: return "an integer";
        case Json::value_t::number_float: return "a number";
        case Json::value_t::string: return "a string";
        case Json::value_t::array: return "an array";
        case Json::value_t::object: return "an object";
        default: return "an unsupported value";
    }
}

// Control characters (and, with ascii_only, every byte outside ASCII) as \xNN, so that a
// message quoting a file is one line of valid text. Names in a parsed header are valid UTF-8.
std::string printable(std::string_view s, bool ascii_only = false) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f || (ascii_only && c >= 0x80)) {
            out += strprintf("\\x%02x", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

bool valid_utf8(std::string_view s) noexcept {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

// Parses text as JSON, noting the first duplicate key in an object at depth 1 or 2 (nlohmann
// keeps the last value silently). Throws nlohmann::json::parse_error.
struct ParsedJson {
    Json value;
    std::string duplicate;  // "" when none; else the message
};

ParsedJson parse_checking_duplicates(std::string_view text, const char* top_what) {
    struct Frame {
        std::vector<std::string> keys;  // small objects: a vector beats a set
        std::string name;               // the key this object is the value of ("" at the top)
        std::string last_key;
    };
    std::vector<Frame> stack;
    std::string duplicate;
    // Keys are only compared within objects at depth 1 (the header) and 2 (its entries).
    auto cb = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) -> bool {
        switch (event) {
            case Json::parse_event_t::object_start: {
                Frame f;
                if (!stack.empty()) f.name = stack.back().last_key;
                stack.push_back(std::move(f));
                break;
            }
            case Json::parse_event_t::object_end:
                if (!stack.empty()) stack.pop_back();
                break;
            case Json::parse_event_t::key: {
                if (stack.empty()) break;
                Frame& f = stack.back();
                const std::string& k = parsed.get_ref<const std::string&>();
                f.last_key = k;
                if (!duplicate.empty() || stack.size() > 2) break;
                if (std::find(f.keys.begin(), f.keys.end(), k) != f.keys.end()) {
                    if (stack.size() == 1) {
                        duplicate = strprintf("%s has the key '%s' twice", top_what, printable(k).c_str());
                    } else if (f.name == "__metadata__") {
                        duplicate = strprintf("__metadata__ has the key '%s' twice", printable(k).c_str());
                    } else {
                        duplicate = strprintf("tensor '%s' has the field '%s' twice", printable(f.name).c_str(),
                                              printable(k).c_str());
                    }
                } else {
                    f.keys.push_back(k);
                }
                break;
            }
            default: break;
        }
        return true;
    };
    ParsedJson r;
    r.value = Json::parse(text.begin(), text.end(), cb);
    r.duplicate = std::move(duplicate);
    return r;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix, printable.
std::string parse_error_text(const std::exception& e) {
    std::string_view w = e.what();
    if (!w.empty() && w.front() == '[') {
        const size_t close = w.find("] ");
        if (close != std::string_view::npos) w.remove_prefix(close + 2);
    }
    return printable(w, /*ascii_only=*/true);
}

// A non-negative integer from a JSON value, or nullopt.
bool as_unsigned(const Json& j, uint64_t& out) {
    if (j.is_number_unsigned()) {
        out = j.get<uint64_t>();
        return true;
    }
    if (j.is_number_integer() && j.get<int64_t>() >= 0) {  // "-0" parses as a signed 0
        out = static_cast<uint64_t>(j.get<int64_t>());
        return true;
    }
    return false;
}

std::string number_text(const Json& j) { return j.is_number() ? j.dump() : a_type(j); }

class Failure {
public:
    explicit Failure(const std::string& path) : path_(path) {}
    [[noreturn]] void operator()(const std::string& problem) const {
        throw Error::kind(APH_ERR_SERIALIZATION, path_ + ": " + problem);
    }

private:
    const std::string& path_;
};

[[noreturn]] void io_error(const std::string& path, int err) {
    throw Error::kind(APH_ERR_IO, path + ": " + std::strerror(err));
}

void release_file_ref(void* user_data, void* /*data*/) {
    delete static_cast<std::shared_ptr<const SafetensorsFile>*>(user_data);
}

}  // namespace

const char* safetensors_dtype_name(aph_dtype dtype) noexcept {
    const DtypeEntry* e = dtype_entry(dtype);
    return e ? e->name : "invalid";
}

SafetensorsFile::~SafetensorsFile() {
    if (map_ != nullptr) munmap(map_, map_size_);
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
    f->path_ = path;
    const Failure fail(f->path_);

    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) io_error(path, errno);
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        io_error(path, err);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        io_error(path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < 8) {
        ::close(fd);
        fail(strprintf("the file is %llu bytes, too short for the 8-byte header length",
                       static_cast<unsigned long long>(size)));
    }
    // (In fault-injection builds, for tests only, the mapping may be refused as for lack of
    // memory.)
    const bool injected = fault::inject(fault::kMapping);
    void* map = injected ? MAP_FAILED : mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_err = injected ? ENOMEM : errno;
    ::close(fd);  // the mapping stays valid without the descriptor
    if (map == MAP_FAILED) {
        // No address space or memory for the mapping is running out of memory, not an I/O error.
        if (map_err == ENOMEM) {
            throw out_of_memory(strprintf("%s: the file (%llu bytes) cannot be mapped into memory: %s", path.c_str(),
                                          static_cast<unsigned long long>(size), std::strerror(map_err)));
        }
        io_error(path, map_err);
    }
    f->map_ = map;
    f->map_size_ = static_cast<size_t>(size);
    const auto* bytes = static_cast<const unsigned char*>(map);

    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n == 0) fail("the header length is 0 (the header must be a JSON object)");
    if (n > kMaxHeaderSize) {
        fail(strprintf("the header length %llu is over the limit of %llu bytes (the reference "
                       "library's MAX_HEADER_SIZE)",
                       static_cast<unsigned long long>(n), static_cast<unsigned long long>(kMaxHeaderSize)));
    }
    if (n > size - 8) {
        fail(strprintf("the header length %llu runs past the end of the file (%llu bytes after the length)",
                       static_cast<unsigned long long>(n), static_cast<unsigned long long>(size - 8)));
    }
    const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
    const uint64_t data_size = size - 8 - n;
    const unsigned char* data = bytes + 8 + n;

    // nlohmann stops at a NUL byte as at the end of the input; JSON allows none (the reference
    // rejects "{}\0..." as trailing characters).
    if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
        fail(strprintf("the header is not valid JSON: it contains a NUL byte at offset %zu", nul));
    }
    ParsedJson parsed;
    try {
        parsed = parse_checking_duplicates(text, "the header");
    } catch (const Json::exception& e) {
        fail("the header is not valid JSON: " + parse_error_text(e));
    }
    if (!parsed.duplicate.empty()) fail(parsed.duplicate);
    const Json& header = parsed.value;
    if (!header.is_object()) fail("the header is " + a_type(header) + ", expected a JSON object");

    struct Entry {
        TensorInfo info;
        uint64_t end;
    };
    std::vector<Entry> entries;
    entries.reserve(header.size());
    for (const auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            if (value.is_null()) continue;
            if (!value.is_object()) fail("__metadata__ is " + a_type(value) + ", expected an object of strings");
            for (const auto& [k, v] : value.items()) {
                if (!v.is_string()) {
                    fail("__metadata__: the value of '" + printable(k) + "' is " + a_type(v) + ", expected a string");
                }
                f->metadata_.emplace(k, v.get<std::string>());
            }
            continue;
        }
        const std::string tname = "tensor '" + printable(name) + "'";
        if (!value.is_object()) {
            fail(tname + " is " + a_type(value) + ", expected an object with dtype, shape and data_offsets");
        }
        for (const char* field : {"dtype", "shape", "data_offsets"}) {
            if (!value.contains(field)) fail(tname + ": missing field '" + field + "'");
        }
        Entry e;
        e.info.name = name;

        const Json& jd = value.at("dtype");
        if (!jd.is_string()) fail(tname + ": dtype is " + a_type(jd) + ", expected a string");
        const auto& dname = jd.get_ref<const std::string&>();
        int rank = -1;
        for (const auto& d : kDtypes) {
            if (dname == d.name) {
                e.info.dtype = d.dtype;
                rank = d.rank;
            }
        }
        if (rank < 0) {
            for (const char* u : kUnsupported) {
                if (dname == u) {
                    fail(tname + ": dtype " + dname + " is not supported by libaphelion (supported: " + kSupportedList +
                         ")");
                }
            }
            fail(tname + ": unknown dtype '" + printable(dname) + "' (supported: " + kSupportedList + ")");
        }
        const size_t elem = dtype::size(e.info.dtype);

        const Json& js = value.at("shape");
        if (!js.is_array()) fail(tname + ": shape is " + a_type(js) + ", expected an array of non-negative integers");
        if (js.size() > APH_TENSOR_MAX_DIMS) {
            fail(strprintf("%s: shape has %zu dimensions, more than libaphelion's %d", tname.c_str(), js.size(),
                           APH_TENSOR_MAX_DIMS));
        }
        // Bytes of the non-zero dimensions: every dimension and the whole must fit in int64
        // (libaphelion's tensor limit), which also rules out the reference's overflow.
        uint64_t bytes_nonzero = elem;
        bool overflow = false;
        bool has_zero = false;
        for (size_t i = 0; i < js.size(); ++i) {
            uint64_t d = 0;
            if (!as_unsigned(js[i], d)) {
                fail(strprintf("%s: shape[%zu] is %s, expected a non-negative integer", tname.c_str(), i,
                               number_text(js[i]).c_str()));
            }
            if (d > static_cast<uint64_t>(INT64_MAX)) overflow = true;
            if (d == 0) has_zero = true;
            e.info.shape.push_back(static_cast<int64_t>(d));
        }
        if (!overflow) {
            for (int64_t d : e.info.shape) {
                if (d == 0) continue;
                if (bytes_nonzero > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(d)) {
                    overflow = true;
                    break;
                }
                bytes_nonzero *= static_cast<uint64_t>(d);
            }
        }
        if (overflow) {
            std::string dims = "[";
            for (size_t i = 0; i < js.size(); ++i) dims += (i ? ", " : "") + js[i].dump();
            fail(tname + ": shape " + dims + "] with dtype " + dname + " is over INT64_MAX bytes");
        }
        e.info.nbytes = has_zero ? 0 : bytes_nonzero;

        const Json& jo = value.at("data_offsets");
        if (!jo.is_array()) fail(tname + ": data_offsets is " + a_type(jo) + ", expected [begin, end]");
        if (jo.size() != 2) {
            fail(strprintf("%s: data_offsets must have 2 values ([begin, end]), not %zu", tname.c_str(), jo.size()));
        }
        uint64_t begin = 0, end = 0;
        for (size_t i = 0; i < 2; ++i) {
            if (!as_unsigned(jo[i], i == 0 ? begin : end)) {
                fail(strprintf("%s: data_offsets[%zu] is %s, expected a non-negative integer", tname.c_str(), i,
                               number_text(jo[i]).c_str()));
            }
        }
        const auto ull = [](uint64_t v) { return static_cast<unsigned long long>(v); };
        if (end < begin) {
            fail(strprintf("%s: data_offsets [%llu, %llu] end before they begin", tname.c_str(), ull(begin), ull(end)));
        }
        if (end > data_size) {
            fail(strprintf("%s: data_offsets [%llu, %llu] run past the end of the data section (%llu bytes)",
                           tname.c_str(), ull(begin), ull(end), ull(data_size)));
        }
        if (end - begin != e.info.nbytes) {
            fail(strprintf("%s: data_offsets [%llu, %llu] do not match dtype %s and shape %s (%llu bytes)",
                           tname.c_str(), ull(begin), ull(end), dname.c_str(), shape_str(e.info.shape).c_str(),
                           ull(e.info.nbytes)));
        }
        e.info.offset = begin;
        e.info.data = e.info.nbytes ? data + begin : nullptr;
        e.end = end;
        entries.push_back(std::move(e));
    }

    // The layout: sorted by offsets, the tensors tile the data section.
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        if (a.info.offset != b.info.offset) return a.info.offset < b.info.offset;
        if (a.end != b.end) return a.end < b.end;
        return a.info.name < b.info.name;
    });
    uint64_t covered = 0;
    const Entry* prev = nullptr;
    for (const Entry& e : entries) {
        const auto ull = [](uint64_t v) { return static_cast<unsigned long long>(v); };
        if (e.info.offset > covered) {
            fail(strprintf("tensor '%s': data_offsets [%llu, %llu] leave bytes [%llu, %llu) of the data "
                           "section to no tensor (tensors must cover it without holes)",
                           printable(e.info.name).c_str(), ull(e.info.offset), ull(e.end), ull(covered),
                           ull(e.info.offset)));
        }
        if (e.info.offset < covered) {
            fail(strprintf("tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                           printable(e.info.name).c_str(), ull(e.info.offset), ull(e.end),
                           printable(prev->info.name).c_str(), ull(prev->info.offset), ull(prev->end)));
        }
        covered = e.end;
        prev = &e;
    }
    if (covered != data_size) {
        fail(strprintf("the data section is %llu bytes, but the tensors end at byte %llu: bytes [%llu, %llu) "
                       "belong to no tensor",
                       static_cast<unsigned long long>(data_size), static_cast<unsigned long long>(covered),
                       static_cast<unsigned long long>(covered), static_cast<unsigned long long>(data_size)));
    }

    f->tensors_.reserve(entries.size());
    for (Entry& e : entries) {
        f->index_.emplace(e.info.name, f->tensors_.size());
        f->tensors_.push_back(std::move(e.info));
    }
    return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const noexcept {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (t == nullptr) {
        throw Error::kind(APH_ERR_NOT_FOUND, path_ + ": no tensor named '" + printable(name) + "'");
    }
    return *t;
}

std::string SafetensorsFile::metadata_json() const {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : metadata_) {
        if (!first) out += ',';
        first = false;
        graph::serde_string(out, k);
        out += ':';
        graph::serde_string(out, v);
    }
    return out + "}";
}

aph_tensor* SafetensorsFile::tensor(const TensorInfo& info, aph_device* device) const {
    require_arg(device, "device");
    const int64_t* shape = info.shape.empty() ? nullptr : info.shape.data();
    const size_t ndim = info.shape.size();
    const size_t elem = dtype::size(info.dtype);
    const bool aligned = reinterpret_cast<uintptr_t>(info.data) % elem == 0;
    if (device->kind == APH_DEVICE_CPU && aligned) {
        auto* holder = new std::shared_ptr<const SafetensorsFile>(shared_from_this());
        try {
            return tensor::from_blob(device, info.dtype, shape, nullptr, ndim, const_cast<void*>(info.data),
                                     &release_file_ref, holder, /*read_only=*/true);
        } catch (...) {
            delete holder;  // from_blob failed: the deleter will not run
            throw;
        }
    }
    aph_tensor* t = tensor::create(device, nullptr, info.dtype, shape, ndim);
    try {
        tensor::from_host(t, info.data, static_cast<size_t>(info.nbytes), nullptr, true);
    } catch (...) {
        tensor::release(t);
        throw;
    }
    return t;
}

// ---------------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------------

namespace {

// Writes all of buf to fd; false with errno set on failure.
bool write_all(int fd, const void* buf, size_t n) {
    const auto* p = static_cast<const char*>(buf);
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

std::atomic<uint64_t> g_temp_counter{0};

}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::string>& names,
                      const std::vector<const aph_tensor*>& tensors,
                      const std::map<std::string, std::string>* metadata) {
    if (names.size() != tensors.size()) throw invalid_argument("names and tensors differ in count");
    const size_t count = names.size();
    std::vector<size_t> order(count);
    for (size_t i = 0; i < count; ++i) {
        if (tensors[i] == nullptr) throw invalid_argument(strprintf("tensors[%zu] must not be NULL", i));
        if (names[i].empty()) throw invalid_argument(strprintf("names[%zu] is empty", i));
        if (names[i] == "__metadata__") {
            throw invalid_argument(strprintf("names[%zu] is \"__metadata__\", the key of the file's metadata", i));
        }
        if (!valid_utf8(names[i])) throw invalid_argument(strprintf("names[%zu] is not valid UTF-8", i));
        if (dtype_entry(tensors[i]->dtype) == nullptr) {
            throw invalid_argument(strprintf("tensors[%zu] has an invalid dtype", i));
        }
        order[i] = i;
    }
    // The reference's order: dtype rank descending, then name.
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const int ra = dtype_entry(tensors[a]->dtype)->rank, rb = dtype_entry(tensors[b]->dtype)->rank;
        if (ra != rb) return ra > rb;
        return names[a] < names[b];
    });
    // Distinct names (checked on a sorted copy: equal names with different dtypes sort apart).
    {
        std::vector<std::string_view> sorted(names.begin(), names.end());
        std::sort(sorted.begin(), sorted.end());
        for (size_t i = 1; i < sorted.size(); ++i) {
            if (sorted[i] == sorted[i - 1]) {
                size_t a = count, b = count;
                for (size_t k = 0; k < count; ++k) {
                    if (names[k] != sorted[i]) continue;
                    if (a == count) a = k;
                    else if (b == count)
                        b = k;
                }
                throw invalid_argument(
                    strprintf("names[%zu] and names[%zu] are both '%s'", a, b, printable(names[a]).c_str()));
            }
        }
    }

    std::string header = "{";
    bool first = true;
    if (metadata != nullptr) {
        header += "\"__metadata__\":{";
        for (const auto& [k, v] : *metadata) {
            if (!first) header += ',';
            first = false;
            graph::serde_string(header, k);
            header += ':';
            graph::serde_string(header, v);
        }
        header += '}';
        first = false;
    }
    uint64_t offset = 0;
    for (size_t i : order) {
        const aph_tensor* t = tensors[i];
        if (!first) header += ',';
        first = false;
        graph::serde_string(header, names[i]);
        header += ":{\"dtype\":\"";
        header += dtype_entry(t->dtype)->name;
        header += "\",\"shape\":[";
        for (size_t d = 0; d < t->shape.size(); ++d) {
            if (d) header += ',';
            header += std::to_string(t->shape[d]);
        }
        const uint64_t end = memory::checked_add(offset, t->nbytes(), "the data section");
        header += strprintf("],\"data_offsets\":[%llu,%llu]}", static_cast<unsigned long long>(offset),
                            static_cast<unsigned long long>(end));
        offset = end;
    }
    header += '}';
    header.append((8 - header.size() % 8) % 8, ' ');

    // Write a temporary beside path, then rename it over path. The guard closes and removes the
    // temporary on every failure, including an exception from a device copy.
    struct Temp {
        std::string path;
        int fd = -1;
        bool keep = false;
        ~Temp() {
            if (fd >= 0) ::close(fd);
            if (!keep) ::unlink(path.c_str());
        }
    } tmp;
    tmp.path = strprintf("%s.tmp.%ld.%llu", path.c_str(), static_cast<long>(getpid()),
                         static_cast<unsigned long long>(g_temp_counter.fetch_add(1)));
    tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (tmp.fd < 0) {
        tmp.keep = true;  // nothing was created
        io_error(path, errno);
    }
    unsigned char len[8];
    const auto n = static_cast<uint64_t>(header.size());
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    if (!write_all(tmp.fd, len, 8) || !write_all(tmp.fd, header.data(), header.size())) io_error(path, errno);
    std::vector<char> buf;
    for (size_t i : order) {
        const aph_tensor* t = tensors[i];
        const auto nbytes = static_cast<size_t>(t->nbytes());
        if (nbytes == 0) continue;
        const void* src;
        if (t->device()->kind == APH_DEVICE_CPU && tensor::is_contiguous(*t)) {
            src = t->data();
        } else {
            buf.resize(nbytes);
            tensor::to_host(t, buf.data(), nbytes, nullptr, true);
            src = buf.data();
        }
        if (!write_all(tmp.fd, src, nbytes)) io_error(path, errno);
    }
    if (::fsync(tmp.fd) != 0 && errno != EINVAL && errno != EROFS) io_error(path, errno);
    const int fd = tmp.fd;
    tmp.fd = -1;
    if (::close(fd) != 0) io_error(path, errno);
    if (::rename(tmp.path.c_str(), path.c_str()) != 0) io_error(path, errno);
    tmp.keep = true;
}

std::map<std::string, std::string> parse_metadata_json(std::string_view json) {
    // (A C string has no NUL inside.)
    ParsedJson parsed;
    try {
        parsed = parse_checking_duplicates(json, "metadata_json");
    } catch (const Json::exception& e) {
        throw Error::kind(APH_ERR_SERIALIZATION, "metadata_json: " + parse_error_text(e));
    }
    if (!parsed.duplicate.empty()) throw invalid_argument(parsed.duplicate);
    const Json& j = parsed.value;
    if (!j.is_object()) throw invalid_argument("metadata_json is " + a_type(j) + ", expected a JSON object of strings");
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : j.items()) {
        if (!v.is_string()) {
            throw invalid_argument("metadata_json: the value of '" + printable(k) + "' is " + a_type(v) +
                                   ", expected a string");
        }
        out.emplace(k, v.get<std::string>());
    }
    return out;
}

}  // namespace aph::exec
