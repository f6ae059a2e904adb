// A Hugging Face tokenizer.json tokenizer (header section 22): the WordPiece model with the BERT
// normaliser, pre-tokeniser and post-processors, the file's added tokens, truncation and padding,
// producing the ids of the Hugging Face `tokenizers` library.
//
// The pipeline, in the library's order (tokenizers/src/tokenizer/mod.rs, encode_single_sequence
// and post_process):
//  1. added tokens with "normalized": false are found in the raw text (leftmost-longest);
//  2. each piece between them is normalised (BertNormalizer: clean_text, handle_chinese_chars,
//     strip_accents = NFD then drop Mn, lowercase, in that order), then added tokens with
//     "normalized": true are found in the normalised piece;
//  3. the rest is split into words (BertPreTokenizer: whitespace removed, punctuation isolated)
//     and each word into WordPiece tokens (greedy longest match, "##" continuations, [UNK] for a
//     word with no match or longer than max_input_chars_per_word characters);
//  4. truncation to max_length minus the special tokens, then the post-processor's template
//     ([CLS] $A [SEP] with type ids); padding comes last, over the batch.
// Immutable once loaded: encoding is thread-safe.
#pragma once

#include "aphelion.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aph::model {

// Hash and equality that accept std::string_view, so lookups build no std::string.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

// Options of one encode call, resolved against the file's settings.
struct EncodeSettings {
    bool add_special = true;
    bool truncate = false;
    size_t max_length = 0;
    bool truncate_left = false;
    bool only_second = false;  // the file's strategy OnlySecond (fails when truncation is needed)
    bool pad_fixed = false;    // else to the longest in the batch
    size_t pad_length = 0;
    size_t pad_multiple = 0;  // 0: none
    bool pad_left = false;
    int64_t pad_id = 0;
    int64_t pad_type_id = 0;
};

// One text's tokens after truncation and the post-processor, before padding.
struct Encoding {
    std::vector<int64_t> ids;
    std::vector<int64_t> type_ids;
};

// A batch, padded: rows × cols values per output, row-major.
struct Batch {
    size_t rows = 0, cols = 0;
    std::vector<Encoding> encodings;
    EncodeSettings settings;
    // Writes the padded rows; any pointer may be NULL (that output is skipped).
    void fill(int64_t* ids, int64_t* mask, int64_t* type_ids) const;
};

class Tokenizer {
public:
    // origin names the file in messages (the path, or "tokenizer.json" for JSON from memory).
    static std::shared_ptr<const Tokenizer> from_json(std::string_view json, const std::string& origin);
    static std::shared_ptr<const Tokenizer> from_file(const std::string& path);

    // As Hugging Face's get_vocab_size(with_added_tokens=True):
    // the model's vocabulary plus the added tokens that are not in it.
    size_t vocab_size() const noexcept { return vocab_size_; }
    // -1 when absent (added tokens first, then the model's vocabulary, as the library does).
    int64_t token_to_id(std::string_view token) const noexcept;
    // nullptr when no token has the id.
    const std::string* id_to_token(int64_t id) const noexcept;
    // The file's truncation max_length, 0 when the file has no truncation.
    size_t max_length() const noexcept { return file_truncation_ ? file_max_length_ : 0; }
    // Special tokens the post-processor adds to one text.
    size_t special_token_count() const noexcept { return template_special_count_; }

    // The settings for options (NULL: the file's); throws on invalid options.
    EncodeSettings resolve(const aph_tokenizer_encode_options* options) const;
    // texts[i] has lengths[i] bytes (lengths NULL: NUL-terminated). Throws naming texts[i] for
    // text that is not UTF-8 and for rows longer than a fixed padding length.
    Batch encode_batch(const char* const* texts, const size_t* lengths, size_t count,
                       const EncodeSettings& settings) const;
    // One text's ids and type ids (no padding). Text that is not UTF-8 throws
    // APH_ERR_INVALID_ARGUMENT "is not valid UTF-8 (at byte N)" (the caller names the text).
    struct Scratch;
    void encode(std::string_view text, const EncodeSettings& settings, Encoding& out, Scratch& scratch) const;

    struct AddedToken {
        std::string content;
        uint32_t id = 0;
        bool lstrip = false, rstrip = false, normalized = true, special = false;
        std::u32string pattern;  // what is matched: content, or its normalised form
    };
    struct TemplatePiece {
        bool sequence = false;     // $A, else special token ids
        std::vector<int64_t> ids;  // the special token's ids
        int64_t type_id = 0;
    };

private:
    Tokenizer() = default;
    void parse(std::string_view json);
    void normalize(const char32_t* s, size_t n, std::u32string& out, std::u32string& tmp) const;
    void split_added(const char32_t* s, size_t n, bool normalized_set, Scratch& scratch,
                     std::vector<int64_t>& ids) const;
    void pre_tokenize_and_model(const char32_t* s, size_t n, Scratch& scratch, std::vector<int64_t>& ids) const;
    void word_piece(const char32_t* w, size_t n, Scratch& scratch, std::vector<int64_t>& ids) const;
    int64_t unk_id() const;

    std::string origin_;
    // normaliser (absent: text is used as it is)
    bool has_normalizer_ = false;
    bool clean_text_ = true, chinese_chars_ = true, strip_accents_ = true, lowercase_ = true;
    bool has_pre_tokenizer_ = false;
    // WordPiece
    Vocab vocab_;          // every token
    Vocab continuations_;  // tokens starting with the prefix, the prefix removed
    size_t max_token_bytes_ = 0, max_continuation_bytes_ = 0;
    std::unordered_map<uint32_t, const std::string*> id_to_token_;
    std::string unk_token_ = "[UNK]";
    int64_t unk_id_ = -1;
    std::string prefix_ = "##";
    size_t max_chars_per_word_ = 100;
    // added tokens
    std::vector<AddedToken> added_;
    std::vector<size_t> raw_tokens_, normalized_tokens_;  // indexes into added_
    Vocab added_ids_;
    size_t vocab_size_ = 0;
    // post-processor
    std::vector<TemplatePiece> template_;
    size_t template_special_count_ = 0;
    // the file's truncation and padding
    bool file_truncation_ = false;
    size_t file_max_length_ = 0;
    bool file_truncate_left_ = false;
    bool file_only_second_ = false;
    bool file_padding_ = false;
    bool file_pad_fixed_ = false;
    size_t file_pad_length_ = 0;
    size_t file_pad_multiple_ = 0;
    bool file_pad_left_ = false;
    int64_t file_pad_id_ = 0, file_pad_type_id_ = 0;
};

}  // namespace aph::model
