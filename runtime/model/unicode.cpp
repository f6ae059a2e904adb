// Unicode lookups for the tokenizer: a two-stage table built once from the generated ranges.
#include "unicode.hpp"

#include <algorithm>
#include <map>
#include <vector>

namespace aph::model::unicode {
namespace {

struct UnicodeRange {
    char32_t first, last;
    uint8_t flags, ccc;
};
struct UnicodeMapping {
    char32_t cp;
    uint16_t offset, length;
};

#include "unicode_tables.inc"

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

// props(c) = blocks[stage1[c >> 8] * 256 + (c & 255)]: identical 256-code-point blocks are
// stored once (about 150 distinct blocks for 4352 block indices).
struct Table {
    std::vector<uint16_t> stage1;
    std::vector<uint16_t> blocks;

    Table() {
        std::vector<uint16_t> all(kMaxCodePoint + 1, 0);
        for (const UnicodeRange& r : kUnicodeRanges) {
            for (char32_t c = r.first; c <= r.last; ++c) {
                all[c] = static_cast<uint16_t>(r.flags | (r.ccc << 8));
            }
        }
        for (const UnicodeMapping& m : kDecomposition) all[m.cp] |= kDecomposes;
        for (char32_t c = kHangulFirst; c <= kHangulLast; ++c) all[c] |= kDecomposes;
        for (const UnicodeMapping& m : kLowercase) all[m.cp] |= kLowers;
        std::map<std::vector<uint16_t>, uint16_t> seen;
        stage1.resize((kMaxCodePoint + 1) >> 8);
        for (size_t b = 0; b < stage1.size(); ++b) {
            std::vector<uint16_t> block(all.begin() + static_cast<std::ptrdiff_t>(b << 8),
                                        all.begin() + static_cast<std::ptrdiff_t>((b + 1) << 8));
            auto it = seen.find(block);
            if (it == seen.end()) {
                it = seen.emplace(block, static_cast<uint16_t>(blocks.size() >> 8)).first;
                blocks.insert(blocks.end(), block.begin(), block.end());
            }
            stage1[b] = it->second;
        }
    }
};

const Table& table() {
    static const Table t;
    return t;
}

template <size_t N>
const UnicodeMapping* find_mapping(const UnicodeMapping (&table)[N], char32_t c) noexcept {
    const UnicodeMapping* it = std::lower_bound(table, table + N, c,
                                                [](const UnicodeMapping& m, char32_t v) { return m.cp < v; });
    return it != table + N && it->cp == c ? it : nullptr;
}

}  // namespace

uint16_t props(char32_t c) noexcept {
    if (c > kMaxCodePoint) return 0;
    const Table& t = table();
    return t.blocks[(static_cast<size_t>(t.stage1[c >> 8]) << 8) | (c & 0xFF)];
}

void append_decomposition(char32_t c, std::u32string& out) {
    if (c >= kHangulFirst && c <= kHangulLast) {
        // Hangul syllables decompose by formula (Unicode chapter 3.12).
        const char32_t s = c - kHangulFirst;
        out.push_back(0x1100 + s / 588);
        out.push_back(0x1161 + (s % 588) / 28);
        if (s % 28 != 0) out.push_back(0x11A7 + s % 28);
        return;
    }
    const UnicodeMapping* m = find_mapping(kDecomposition, c);
    if (m == nullptr) {
        out.push_back(c);
        return;
    }
    out.append(kDecompositionData + m->offset, m->length);
}

void append_lowercase(char32_t c, std::u32string& out) {
    const UnicodeMapping* m = find_mapping(kLowercase, c);
    if (m == nullptr) {
        out.push_back(c);
        return;
    }
    out.append(kLowercaseData + m->offset, m->length);
}

void canonical_order(std::u32string& s, size_t from) noexcept {
    size_t i = from;
    while (i < s.size()) {
        if (ccc_of(props(s[i])) == 0) {
            ++i;
            continue;
        }
        size_t j = i + 1;
        while (j < s.size() && ccc_of(props(s[j])) != 0) ++j;
        if (j - i > 1) {
            // Insertion sort: runs are short, and it is stable.
            for (size_t k = i + 1; k < j; ++k) {
                const char32_t v = s[k];
                const uint8_t cv = ccc_of(props(v));
                size_t m = k;
                while (m > i && ccc_of(props(s[m - 1])) > cv) {
                    s[m] = s[m - 1];
                    --m;
                }
                s[m] = v;
            }
        }
        i = j;
    }
}

size_t decode_utf8(const unsigned char* p, size_t n, char32_t* c) noexcept {
    if (n == 0) return 0;
    const unsigned char b0 = p[0];
    if (b0 < 0x80) {
        *c = b0;
        return 1;
    }
    size_t len;
    char32_t v, min;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, v = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, v = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, v = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *c = v;
    return len;
}

void append_utf8(char32_t c, std::string& out) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

}  // namespace aph::model::unicode
