// The tokenizer.json reader and the encoding pipeline (see tokenizer.hpp for the steps).
#include "tokenizer.hpp"

#include "../core/error.hpp"
#include "../kernels/parallel.hpp"
#include "unicode.hpp"

#include "../core/json.hpp"  // nlohmann/json, with its destructor made safe to run out of memory

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace aph::model {

namespace u = aph::model::unicode;
using Json = nlohmann::json;

struct Tokenizer::Scratch {
    std::u32string raw, norm, tmp;
    std::string word;               // one word in UTF-8
    std::vector<uint32_t> offsets;  // byte offset of each of its characters, and the end
    std::vector<int64_t> tokens;
};

namespace {

// Text for messages: at most 64 bytes, control characters and quotes escaped.
std::string printable(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < 64; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\') {
            out += strprintf("\\x%02x", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    if (s.size() > 64) out += "...";
    return out;
}

std::string quoted(const Json& j) {
    if (j.is_string()) return "'" + printable(j.get_ref<const std::string&>()) + "'";
    return printable(j.dump());
}

// Reads the fields of one tokenizer.json, naming the file and the field in every error.
struct Reader {
    const std::string& origin;

    [[noreturn]] void bad(const std::string& what) const {
        throw Error::kind(APH_ERR_SERIALIZATION, origin + ": " + what);
    }
    [[noreturn]] void unsupported(const std::string& what) const {
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED, origin + ": " + what);
    }

    static const Json* member(const Json& obj, const char* key) {
        auto it = obj.find(key);
        return it == obj.end() ? nullptr : &*it;
    }
    // A member that is present and not null, else nullptr.
    static const Json* present(const Json& obj, const char* key) {
        const Json* j = member(obj, key);
        return j == nullptr || j->is_null() ? nullptr : j;
    }
    const Json& object(const Json& obj, const char* key, const std::string& path) const {
        const Json* j = member(obj, key);
        if (j == nullptr) bad(path + " is missing");
        if (!j->is_object()) bad(path + " is not an object");
        return *j;
    }
    bool boolean(const Json& obj, const char* key, bool fallback, const std::string& path) const {
        const Json* j = member(obj, key);
        if (j == nullptr) return fallback;
        if (!j->is_boolean()) bad(path + " is not true or false");
        return j->get<bool>();
    }
    uint64_t integer(const Json& j, const std::string& path, uint64_t max) const {
        if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0))
            bad(path + " is not a non-negative integer");
        const uint64_t v = j.get<uint64_t>();
        if (v > max)
            bad(strprintf("%s is %llu, more than %llu", path.c_str(), static_cast<unsigned long long>(v),
                          static_cast<unsigned long long>(max)));
        return v;
    }
    uint64_t integer(const Json& obj, const char* key, uint64_t fallback, const std::string& path,
                     uint64_t max = UINT32_MAX) const {
        const Json* j = member(obj, key);
        if (j == nullptr) return fallback;
        return integer(*j, path, max);
    }
    std::string string(const Json& j, const std::string& path) const {
        if (!j.is_string()) bad(path + " is not a string");
        return j.get<std::string>();
    }
    std::string string(const Json& obj, const char* key, const char* fallback, const std::string& path) const {
        const Json* j = member(obj, key);
        if (j == nullptr) {
            if (fallback == nullptr) bad(path + " is missing");
            return fallback;
        }
        return string(*j, path);
    }
    std::string type(const Json& obj, const std::string& path) const {
        const Json* j = member(obj, "type");
        if (j == nullptr) bad(path + ".type is missing");
        return string(*j, path + ".type");
    }
};

std::u32string decode_valid(std::string_view s) {
    std::u32string out;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = 0; i < s.size();) {
        char32_t c = 0;
        const size_t len = u::decode_utf8(p + i, s.size() - i, &c);
        if (len == 0) return out;  // the JSON parser has checked the encoding already
        out.push_back(c);
        i += len;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

namespace {

std::string read_tokenizer_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        throw Error::kind(APH_ERR_IO, path + ": " + std::strerror(err ? err : ENOENT));
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) throw Error::kind(APH_ERR_IO, path + ": read failed");
    return buf.str();
}

}  // namespace

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::string& path) {
    return from_json(read_tokenizer_file(path), path);
}

std::shared_ptr<const Tokenizer> Tokenizer::for_model(const std::string& path, size_t max_length) {
    std::shared_ptr<Tokenizer> t(new Tokenizer());
    t->origin_ = path;
    t->parse(read_tokenizer_file(path));
    t->file_truncation_ = true;
    t->file_max_length_ = max_length;
    t->file_only_second_ = false;
    t->file_padding_ = true;
    t->file_pad_fixed_ = false;
    t->file_pad_length_ = 0;
    t->file_pad_multiple_ = 0;
    return t;
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json(std::string_view json, const std::string& origin) {
    std::shared_ptr<Tokenizer> t(new Tokenizer());
    t->origin_ = origin;
    t->parse(json);
    return t;
}

void Tokenizer::parse(std::string_view text) {
    const Reader r{origin_};
    Json root;
    try {
        root = Json::parse(text.begin(), text.end());
    } catch (const Json::exception& e) {
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at ...": keep the part after the tag.
        if (const size_t p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos)
            what = what.substr(p + 2);
        r.bad("malformed JSON: " + what);
    }
    if (!root.is_object()) r.bad("the top level is not a JSON object");

    // --- model -------------------------------------------------------------------------------
    const Json& model = r.object(root, "model", "model");
    {
        const Json* type = Reader::member(model, "type");
        if (type == nullptr)
            r.unsupported("model.type is missing (supported: WordPiece, stated as \"type\": \"WordPiece\")");
        const std::string t = r.string(*type, "model.type");
        if (t != "WordPiece") r.unsupported("model.type '" + printable(t) + "' (supported: WordPiece)");
    }
    unk_token_ = r.string(model, "unk_token", "[UNK]", "model.unk_token");
    prefix_ = r.string(model, "continuing_subword_prefix", "##", "model.continuing_subword_prefix");
    max_chars_per_word_ = r.integer(model, "max_input_chars_per_word", 100, "model.max_input_chars_per_word",
                                    UINT64_MAX);
    const Json& vocab = r.object(model, "vocab", "model.vocab");
    vocab_.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const Json& v = it.value();
        if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0) ||
            v.get<uint64_t>() > UINT32_MAX)
            r.bad("model.vocab['" + printable(it.key()) + "'] is not an integer id from 0 to 4294967295");
        const auto id = static_cast<uint32_t>(v.get<uint64_t>());
        vocab_.insert_or_assign(it.key(), id);
    }
    for (const auto& [token, id] : vocab_) {
        max_token_bytes_ = std::max(max_token_bytes_, token.size());
        if (token.size() >= prefix_.size() && token.compare(0, prefix_.size(), prefix_) == 0) {
            std::string rest = token.substr(prefix_.size());
            max_continuation_bytes_ = std::max(max_continuation_bytes_, rest.size());
            continuations_.insert_or_assign(std::move(rest), id);
        }
    }
    if (auto it = vocab_.find(std::string_view(unk_token_)); it != vocab_.end()) unk_id_ = it->second;

    // --- normaliser --------------------------------------------------------------------------
    if (const Json* n = Reader::present(root, "normalizer")) {
        if (!n->is_object()) r.bad("normalizer is not an object");
        const std::string t = r.type(*n, "normalizer");
        if (t != "BertNormalizer")
            r.unsupported("normalizer.type '" + printable(t) + "' (supported: BertNormalizer or null)");
        has_normalizer_ = true;
        clean_text_ = r.boolean(*n, "clean_text", true, "normalizer.clean_text");
        chinese_chars_ = r.boolean(*n, "handle_chinese_chars", true, "normalizer.handle_chinese_chars");
        lowercase_ = r.boolean(*n, "lowercase", true, "normalizer.lowercase");
        // null (or absent) follows lowercase, as the library's BertNormalizer does.
        const Json* s = Reader::present(*n, "strip_accents");
        strip_accents_ = s == nullptr ? lowercase_ : r.boolean(*n, "strip_accents", false, "normalizer.strip_accents");
    }

    // --- pre-tokeniser -----------------------------------------------------------------------
    if (const Json* p = Reader::present(root, "pre_tokenizer")) {
        if (!p->is_object()) r.bad("pre_tokenizer is not an object");
        const std::string t = r.type(*p, "pre_tokenizer");
        if (t != "BertPreTokenizer")
            r.unsupported("pre_tokenizer.type '" + printable(t) + "' (supported: BertPreTokenizer or null)");
        has_pre_tokenizer_ = true;
    }

    // --- post-processor ----------------------------------------------------------------------
    if (const Json* p = Reader::present(root, "post_processor")) {
        if (!p->is_object()) r.bad("post_processor is not an object");
        const std::string t = r.type(*p, "post_processor");
        if (t == "TemplateProcessing") {
            const Json* single = Reader::member(*p, "single");
            if (single == nullptr || !single->is_array()) r.bad("post_processor.single is missing or not an array");
            const Json* specials = Reader::member(*p, "special_tokens");
            if (specials != nullptr && !specials->is_object()) r.bad("post_processor.special_tokens is not an object");
            for (size_t i = 0; i < single->size(); ++i) {
                const Json& piece = (*single)[i];
                const std::string path = strprintf("post_processor.single[%zu]", i);
                if (!piece.is_object() || piece.size() != 1)
                    r.bad(path + " is not an object with one key, SpecialToken or Sequence");
                TemplatePiece tp;
                if (const Json* sp = Reader::member(piece, "SpecialToken")) {
                    if (!sp->is_object()) r.bad(path + ".SpecialToken is not an object");
                    const std::string name = r.string(*sp, "id", nullptr, path + ".SpecialToken.id");
                    tp.type_id = static_cast<int64_t>(r.integer(*sp, "type_id", 0, path + ".SpecialToken.type_id"));
                    const Json* entry = specials ? Reader::member(*specials, name.c_str()) : nullptr;
                    if (entry == nullptr || !entry->is_object())
                        r.bad(path + ": special token '" + printable(name) +
                              "' is not in post_processor.special_tokens");
                    const std::string epath = "post_processor.special_tokens['" + printable(name) + "'].ids";
                    const Json* ids = Reader::member(*entry, "ids");
                    if (ids == nullptr || !ids->is_array()) r.bad(epath + " is missing or not an array");
                    for (size_t k = 0; k < ids->size(); ++k)
                        tp.ids.push_back(static_cast<int64_t>(
                            r.integer((*ids)[k], strprintf("%s[%zu]", epath.c_str(), k), UINT32_MAX)));
                    template_special_count_ += tp.ids.size();
                } else if (const Json* sq = Reader::member(piece, "Sequence")) {
                    if (!sq->is_object()) r.bad(path + ".Sequence is not an object");
                    const std::string id = r.string(*sq, "id", nullptr, path + ".Sequence.id");
                    if (id != "A")
                        r.bad(path + ".Sequence.id is '" + printable(id) + "'; the single template takes only A");
                    tp.sequence = true;
                    tp.type_id = static_cast<int64_t>(r.integer(*sq, "type_id", 0, path + ".Sequence.type_id"));
                } else {
                    r.bad(path + " is not an object with one key, SpecialToken or Sequence");
                }
                template_.push_back(std::move(tp));
            }
        } else if (t == "BertProcessing") {
            auto pair = [&](const char* key) {
                const Json* j = Reader::member(*p, key);
                const std::string path = std::string("post_processor.") + key;
                if (j == nullptr || !j->is_array() || j->size() != 2 || !(*j)[0].is_string())
                    r.bad(path + " is not a [token, id] pair");
                TemplatePiece tp;
                tp.ids.push_back(static_cast<int64_t>(r.integer((*j)[1], path + "[1]", UINT32_MAX)));
                return tp;
            };
            template_.push_back(pair("cls"));
            TemplatePiece seq;
            seq.sequence = true;
            template_.push_back(seq);
            template_.push_back(pair("sep"));
            template_special_count_ = 2;
        } else {
            r.unsupported("post_processor.type '" + printable(t) +
                          "' (supported: TemplateProcessing, BertProcessing or null)");
        }
    }

    // --- truncation and padding --------------------------------------------------------------
    if (const Json* t = Reader::present(root, "truncation")) {
        if (!t->is_object()) r.bad("truncation is not an object");
        file_truncation_ = true;
        const Json* ml = Reader::member(*t, "max_length");
        if (ml == nullptr) r.bad("truncation.max_length is missing");
        file_max_length_ = r.integer(*ml, "truncation.max_length", UINT32_MAX);
        const std::string strategy = r.string(*t, "strategy", "LongestFirst", "truncation.strategy");
        if (strategy == "OnlySecond") {
            file_only_second_ = true;
        } else if (strategy != "LongestFirst" && strategy != "OnlyFirst") {
            r.bad("truncation.strategy '" + printable(strategy) + "' is not LongestFirst, OnlyFirst or OnlySecond");
        }
        const std::string direction = r.string(*t, "direction", "Right", "truncation.direction");
        if (direction != "Right" && direction != "Left")
            r.bad("truncation.direction '" + printable(direction) + "' is not Right or Left");
        file_truncate_left_ = direction == "Left";
        (void)r.integer(*t, "stride", 0, "truncation.stride");  // shapes only overflowing tokens
    }
    if (const Json* p = Reader::present(root, "padding")) {
        if (!p->is_object()) r.bad("padding is not an object");
        file_padding_ = true;
        if (const Json* s = Reader::member(*p, "strategy")) {
            if (s->is_string() && s->get<std::string>() == "BatchLongest") {
                file_pad_fixed_ = false;
            } else if (s->is_object() && s->size() == 1 && s->contains("Fixed")) {
                file_pad_fixed_ = true;
                file_pad_length_ = r.integer(s->at("Fixed"), "padding.strategy.Fixed", UINT32_MAX);
            } else {
                r.bad("padding.strategy " + quoted(*s) + " is not \"BatchLongest\" or {\"Fixed\": n}");
            }
        }
        const std::string direction = r.string(*p, "direction", "Right", "padding.direction");
        if (direction != "Right" && direction != "Left")
            r.bad("padding.direction '" + printable(direction) + "' is not Right or Left");
        file_pad_left_ = direction == "Left";
        if (const Json* m = Reader::present(*p, "pad_to_multiple_of"))
            file_pad_multiple_ = r.integer(*m, "padding.pad_to_multiple_of", UINT32_MAX);
        file_pad_id_ = static_cast<int64_t>(r.integer(*p, "pad_id", 0, "padding.pad_id"));
        file_pad_type_id_ = static_cast<int64_t>(r.integer(*p, "pad_type_id", 0, "padding.pad_type_id"));
        (void)r.string(*p, "pad_token", "[PAD]", "padding.pad_token");  // the id is what is used
    }

    // --- added tokens ------------------------------------------------------------------------
    if (const Json* a = Reader::present(root, "added_tokens")) {
        if (!a->is_array()) r.bad("added_tokens is not an array");
        for (size_t i = 0; i < a->size(); ++i) {
            const Json& e = (*a)[i];
            const std::string path = strprintf("added_tokens[%zu]", i);
            if (!e.is_object()) r.bad(path + " is not an object");
            const Json* idj = Reader::member(e, "id");
            if (idj == nullptr) r.bad(path + ".id is missing");
            AddedToken tok;
            tok.id = static_cast<uint32_t>(r.integer(*idj, path + ".id", UINT32_MAX));
            tok.content = r.string(e, "content", nullptr, path + ".content");
            tok.special = r.boolean(e, "special", false, path + ".special");
            tok.normalized = r.boolean(e, "normalized", !tok.special, path + ".normalized");
            tok.lstrip = r.boolean(e, "lstrip", false, path + ".lstrip");
            tok.rstrip = r.boolean(e, "rstrip", false, path + ".rstrip");
            if (r.boolean(e, "single_word", false, path + ".single_word"))
                r.unsupported(path + ".single_word: true (token '" + printable(tok.content) +
                              "'; only tokens matched anywhere are supported)");
            if (tok.content.empty()) continue;  // the library ignores empty tokens
            added_.push_back(std::move(tok));
        }
    }
    std::u32string tmp;
    for (size_t i = 0; i < added_.size(); ++i) {
        AddedToken& tok = added_[i];
        const std::u32string content = decode_valid(tok.content);
        if (tok.normalized && has_normalizer_) {
            normalize(content.data(), content.size(), tok.pattern, tmp);
        } else {
            tok.pattern = content;
        }
        if (!tok.pattern.empty()) (tok.normalized ? normalized_tokens_ : raw_tokens_).push_back(i);
        added_ids_.insert_or_assign(tok.content, tok.id);
    }
    vocab_size_ = vocab_.size();
    for (const auto& [content, id] : added_ids_) {
        if (vocab_.find(std::string_view(content)) == vocab_.end()) ++vocab_size_;
    }
    for (const auto& [token, id] : vocab_) id_to_token_.emplace(id, &token);
    for (const auto& [content, id] : added_ids_) id_to_token_.insert_or_assign(id, &content);
}

int64_t Tokenizer::token_to_id(std::string_view token) const noexcept {
    if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
    if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
    return -1;
}

const std::string* Tokenizer::id_to_token(int64_t id) const noexcept {
    if (id < 0 || id > UINT32_MAX) return nullptr;
    auto it = id_to_token_.find(static_cast<uint32_t>(id));
    return it == id_to_token_.end() ? nullptr : it->second;
}

int64_t Tokenizer::unk_id() const {
    if (unk_id_ < 0)
        throw Error::kind(APH_ERR_INVALID_CONFIG, origin_ + ": model.unk_token '" + printable(unk_token_) +
                                                      "' is not in model.vocab, and a word needs it");
    return unk_id_;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

EncodeSettings Tokenizer::resolve(const aph_tokenizer_encode_options* options) const {
    aph_tokenizer_encode_options o{};
    if (options != nullptr) {
        if (options->struct_size < sizeof(size_t))
            throw invalid_argument(
                "options->struct_size is too small (set it to sizeof(aph_tokenizer_encode_options))");
        std::memcpy(&o, options, std::min(options->struct_size, sizeof o));
    }
    EncodeSettings s;
    s.add_special = o.no_special_tokens == 0;
    switch (o.truncation) {
        case APH_TRUNCATION_FROM_FILE:
            s.truncate = file_truncation_;
            s.max_length = file_max_length_;
            s.truncate_left = file_truncate_left_;
            s.only_second = file_only_second_;
            break;
        case APH_TRUNCATION_NONE: break;
        case APH_TRUNCATION_MAX_LENGTH:
            if (o.max_length == 0)
                throw invalid_argument("options->max_length must be > 0 with APH_TRUNCATION_MAX_LENGTH");
            s.truncate = true;
            s.max_length = o.max_length;
            s.truncate_left = file_truncate_left_;
            break;
        default:
            throw invalid_argument(
                strprintf("options->truncation is %d, not an aph_truncation value", static_cast<int>(o.truncation)));
    }
    const size_t specials = s.add_special ? template_special_count_ : 0;
    if (s.truncate && s.max_length < specials) {
        if (o.truncation == APH_TRUNCATION_FROM_FILE)
            throw Error::kind(APH_ERR_INVALID_CONFIG,
                              strprintf("%s: truncation.max_length %zu is less than the %zu special tokens of the "
                                        "post-processor",
                                        origin_.c_str(), s.max_length, specials));
        throw invalid_argument(strprintf("options->max_length %zu is less than the %zu special tokens of the "
                                         "post-processor",
                                         s.max_length, specials));
    }
    if (file_padding_) {
        s.pad_left = file_pad_left_;
        s.pad_id = file_pad_id_;
        s.pad_type_id = file_pad_type_id_;
        s.pad_multiple = file_pad_multiple_;
    }
    switch (o.padding) {
        case APH_PADDING_FROM_FILE:
            s.pad_fixed = file_padding_ && file_pad_fixed_;
            s.pad_length = file_pad_length_;
            break;
        case APH_PADDING_LONGEST: break;
        case APH_PADDING_FIXED:
            s.pad_fixed = true;
            s.pad_length = o.pad_length;
            break;
        default:
            throw invalid_argument(
                strprintf("options->padding is %d, not an aph_padding value", static_cast<int>(o.padding)));
    }
    if (o.pad_to_multiple_of > 0) s.pad_multiple = o.pad_to_multiple_of;
    return s;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

// BertNormalizer: clean_text, handle_chinese_chars, strip_accents, lowercase, in that order.
void Tokenizer::normalize(const char32_t* s, size_t n, std::u32string& out, std::u32string& tmp) const {
    out.clear();
    if (!has_normalizer_) {
        out.assign(s, n);
        return;
    }
    bool reorder = false;
    for (size_t i = 0; i < n; ++i) {
        char32_t c = s[i];
        uint16_t p = u::props(c);
        if (clean_text_) {
            if (p & u::kDrop) continue;
            if (p & u::kSpace) c = U' ', p = u::props(U' ');
        }
        const bool chinese = chinese_chars_ && u::is_chinese(c);
        if (chinese) out.push_back(U' ');
        if (strip_accents_ && (p & u::kDecomposes)) {
            u::append_decomposition(c, out);
            reorder = true;
        } else {
            out.push_back(c);
            reorder = reorder || (strip_accents_ && u::ccc_of(p) != 0);
        }
        if (chinese) out.push_back(U' ');
    }
    if (!strip_accents_ && !lowercase_) return;
    if (reorder) u::canonical_order(out, 0);
    tmp.clear();
    for (char32_t c : out) {
        if (c < 0x80) {
            // ASCII: no marks; lowercase is A-Z only.
            tmp.push_back(lowercase_ && c >= U'A' && c <= U'Z' ? c + 32 : c);
            continue;
        }
        const uint16_t p = u::props(c);
        if (strip_accents_ && (p & u::kMark)) continue;
        if (lowercase_ && (p & u::kLowers)) {
            u::append_lowercase(c, tmp);
        } else {
            tmp.push_back(c);
        }
    }
    out.swap(tmp);
}

// Finds the added tokens of one set in s (leftmost, then longest, as the library's Aho-Corasick
// with MatchKind::LeftmostLongest), with their lstrip/rstrip; what lies between goes on to
// normalisation (raw set) or to the pre-tokeniser and the model (normalised set).
void Tokenizer::split_added(const char32_t* s, size_t n, bool normalized_set, Scratch& scratch,
                            std::vector<int64_t>& ids) const {
    const std::vector<size_t>& set = normalized_set ? normalized_tokens_ : raw_tokens_;
    auto piece = [&](const char32_t* p, size_t len) {
        if (!normalized_set) {
            normalize(p, len, scratch.norm, scratch.tmp);
            split_added(scratch.norm.data(), scratch.norm.size(), true, scratch, ids);
        } else {
            pre_tokenize_and_model(p, len, scratch, ids);
        }
    };
    if (set.empty()) {
        piece(s, n);
        return;
    }
    size_t start_offset = 0, pos = 0;
    while (pos < n) {
        // The leftmost position where a token matches, and the longest token there.
        const AddedToken* best = nullptr;
        size_t at = pos;
        for (; at < n && best == nullptr; ++at) {
            for (size_t k : set) {
                const AddedToken& t = added_[k];
                const size_t len = t.pattern.size();
                if (len <= n - at && s[at] == t.pattern[0] && (best == nullptr || len > best->pattern.size()) &&
                    std::equal(t.pattern.begin(), t.pattern.end(), s + at)) {
                    best = &t;
                }
            }
        }
        if (best == nullptr) break;
        --at;
        size_t start = at, stop = at + best->pattern.size();
        if (best->lstrip) {
            size_t b = start;
            while (b > 0 && (u::props(s[b - 1]) & u::kSpace)) --b;
            start = std::max(b, start_offset);
        }
        if (best->rstrip) {
            while (stop < n && (u::props(s[stop]) & u::kSpace)) ++stop;
        }
        if (start_offset < start) piece(s + start_offset, start - start_offset);
        ids.push_back(best->id);
        start_offset = std::max(start_offset, stop);
        pos = at + best->pattern.size();
    }
    if (start_offset < n) piece(s + start_offset, n - start_offset);
}

// BertPreTokenizer (whitespace removed, punctuation isolated), then WordPiece on each word.
void Tokenizer::pre_tokenize_and_model(const char32_t* s, size_t n, Scratch& scratch, std::vector<int64_t>& ids) const {
    if (!has_pre_tokenizer_) {
        if (n > 0) word_piece(s, n, scratch, ids);
        return;
    }
    size_t word = SIZE_MAX;
    for (size_t i = 0; i < n; ++i) {
        const uint16_t f = u::flags_of(u::props(s[i]));
        if (f & (u::kSpace | u::kPunct)) {
            if (word != SIZE_MAX) word_piece(s + word, i - word, scratch, ids);
            word = SIZE_MAX;
            if (f & u::kPunct) word_piece(s + i, 1, scratch, ids);
        } else if (word == SIZE_MAX) {
            word = i;
        }
    }
    if (word != SIZE_MAX) word_piece(s + word, n - word, scratch, ids);
}

// WordPiece: the whole word when it is in the vocabulary, else the longest known prefix, then
// the longest known continuation from there, and so on; a word with no such cover, or longer
// than max_input_chars_per_word characters, is one unk_token.
void Tokenizer::word_piece(const char32_t* w, size_t n, Scratch& scratch, std::vector<int64_t>& ids) const {
    if (n > max_chars_per_word_) {
        ids.push_back(unk_id());
        return;
    }
    std::string& word = scratch.word;
    std::vector<uint32_t>& off = scratch.offsets;
    word.clear();
    off.clear();
    for (size_t i = 0; i < n; ++i) {
        off.push_back(static_cast<uint32_t>(word.size()));
        u::append_utf8(w[i], word);
    }
    off.push_back(static_cast<uint32_t>(word.size()));
    const size_t first = ids.size();
    size_t start = 0;
    while (start < n) {
        const Vocab& v = start == 0 ? vocab_ : continuations_;
        const size_t limit = start == 0 ? max_token_bytes_ : max_continuation_bytes_;
        size_t end = n;
        bool found = false;
        for (; end > start; --end) {
            const size_t bytes = off[end] - off[start];
            if (bytes > limit) continue;
            auto it = v.find(std::string_view(word.data() + off[start], bytes));
            if (it != v.end()) {
                ids.push_back(it->second);
                found = true;
                break;
            }
        }
        if (!found) {
            ids.resize(first);
            ids.push_back(unk_id());
            return;
        }
        start = end;
    }
}

void Tokenizer::encode(std::string_view text, const EncodeSettings& settings, Encoding& out, Scratch& scratch) const {
    // Decode (validated by the caller).
    std::u32string& raw = scratch.raw;
    raw.clear();
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size();) {
        char32_t c = 0;
        const size_t len = u::decode_utf8(p + i, text.size() - i, &c);
        if (len == 0) throw invalid_argument(strprintf("is not valid UTF-8 (at byte %zu)", i));
        raw.push_back(c);
        i += len;
    }
    std::vector<int64_t>& tokens = scratch.tokens;
    tokens.clear();
    split_added(raw.data(), raw.size(), false, scratch, tokens);

    const bool special = settings.add_special && !template_.empty();
    if (settings.truncate) {
        const size_t limit = settings.max_length - (special ? template_special_count_ : 0);
        if (tokens.size() > limit) {
            if (settings.only_second)
                throw Error::kind(APH_ERR_INVALID_CONFIG, origin_ + ": truncation.strategy OnlySecond needs a "
                                                                    "second sequence, and a text must be truncated");
            if (settings.truncate_left) {
                tokens.erase(tokens.begin(), tokens.end() - static_cast<std::ptrdiff_t>(limit));
            } else {
                tokens.resize(limit);
            }
        }
    }
    out.ids.clear();
    out.type_ids.clear();
    if (!special) {
        out.ids.assign(tokens.begin(), tokens.end());
        out.type_ids.assign(tokens.size(), 0);
        return;
    }
    for (const TemplatePiece& piece : template_) {
        if (piece.sequence) {
            out.ids.insert(out.ids.end(), tokens.begin(), tokens.end());
            out.type_ids.insert(out.type_ids.end(), tokens.size(), piece.type_id);
        } else {
            out.ids.insert(out.ids.end(), piece.ids.begin(), piece.ids.end());
            out.type_ids.insert(out.type_ids.end(), piece.ids.size(), piece.type_id);
        }
    }
}

Batch Tokenizer::encode_batch(const char* const* texts, const size_t* lengths, size_t count,
                              const EncodeSettings& settings) const {
    Batch b;
    b.settings = settings;
    b.rows = count;
    b.encodings.resize(count);
    std::vector<std::string_view> views(count);
    double bytes = 0;
    for (size_t i = 0; i < count; ++i) {
        const size_t len = lengths ? lengths[i] : (texts[i] ? std::strlen(texts[i]) : 0);
        if (texts[i] == nullptr && len > 0)
            throw invalid_argument(strprintf("texts[%zu] is NULL and its length is %zu", i, len));
        views[i] = std::string_view(texts[i] ? texts[i] : "", len);
        bytes += static_cast<double>(len);
    }
    // Threads from about 16 KB of text per call (parallel_for's threshold is 2^18): a typical
    // batch of 64 sentences (a few kilobytes, a fraction of a millisecond) runs inline, since
    // starting threads would cost as much as it saves.
    kernels::parallel_for(static_cast<int64_t>(count), bytes * 16.0, [&](int64_t begin, int64_t end) {
        Scratch scratch;
        for (int64_t i = begin; i < end; ++i) {
            try {
                encode(views[static_cast<size_t>(i)], settings, b.encodings[static_cast<size_t>(i)], scratch);
            } catch (const Error& e) {
                if (e.status() != APH_ERR_INVALID_ARGUMENT) throw;
                // "invalid argument: is not valid UTF-8 ..." -> "invalid argument: texts[i] is ..."
                const std::string_view prefix = status_prefix(APH_ERR_INVALID_ARGUMENT);
                throw invalid_argument(strprintf("texts[%lld] ", static_cast<long long>(i)) +
                                       std::string(std::string_view(e.what()).substr(prefix.size())));
            }
        }
    });
    size_t cols = 0;
    if (settings.pad_fixed) {
        cols = settings.pad_length;
    } else {
        for (const Encoding& e : b.encodings) cols = std::max(cols, e.ids.size());
    }
    if (settings.pad_multiple > 0 && cols % settings.pad_multiple != 0)
        cols += settings.pad_multiple - cols % settings.pad_multiple;
    for (size_t i = 0; i < count; ++i) {
        if (b.encodings[i].ids.size() > cols)
            throw invalid_argument(strprintf("texts[%zu] has %zu tokens, more than the fixed padding length %zu "
                                             "(truncate to it: APH_TRUNCATION_MAX_LENGTH)",
                                             i, b.encodings[i].ids.size(), cols));
    }
    b.cols = cols;
    return b;
}

void Batch::fill(int64_t* ids, int64_t* mask, int64_t* type_ids) const {
    if (cols == 0) return;  // no values (the tensors' data pointers are NULL)
    for (size_t r = 0; r < rows; ++r) {
        const Encoding& e = encodings[r];
        const size_t len = e.ids.size(), pad = cols - len;
        const size_t at = settings.pad_left ? pad : 0;      // first token
        const size_t pad_at = settings.pad_left ? 0 : len;  // first pad
        if (ids) {
            int64_t* row = ids + r * cols;
            std::copy(e.ids.begin(), e.ids.end(), row + at);
            std::fill(row + pad_at, row + pad_at + pad, settings.pad_id);
        }
        if (mask) {
            int64_t* row = mask + r * cols;
            std::fill(row + at, row + at + len, int64_t{1});
            std::fill(row + pad_at, row + pad_at + pad, int64_t{0});
        }
        if (type_ids) {
            int64_t* row = type_ids + r * cols;
            std::copy(e.type_ids.begin(), e.type_ids.end(), row + at);
            std::fill(row + pad_at, row + pad_at + pad, settings.pad_type_id);
        }
    }
}

}  // namespace aph::model
