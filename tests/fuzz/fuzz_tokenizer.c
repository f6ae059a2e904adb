/* Fuzz target: tokenizers. The first byte picks what the rest is:
 *  - even: a tokenizer.json (aph_tokenizer_load_json); what loads encodes a few fixed texts;
 *  - odd: UTF-8 (or not) text for a fixed small BERT-style tokenizer, cut into 1 to 4 texts.
 * The promises checked: a batch succeeds exactly when each of its texts does alone; each row
 * of the batch equals that text's aph_tokenizer_encode_ids (a batch of one); the attention mask
 * is 1 for a text's tokens and 0 for its padding; ids lie in [0, vocab size). Seeds:
 * tests/fuzz/tokenizer/. */
#include "fuzz_common.h"
#include "../reliability_fixtures.h"

static aph_device* g_cpu;
static aph_tokenizer* g_fixed;

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
    if (aph_tokenizer_load_json(rf_tokenizer_json, sizeof rf_tokenizer_json - 1, &g_fixed) != APH_OK) {
        FZ_FAIL("fixed tokenizer: %s", aph_last_error());
    }
}

enum { MAX_TEXTS = 4, MAX_IDS = 4096 };

/* longest: opt pads to the longest text (so a text alone has no padding at all). */
static void check_batch(const aph_tokenizer* tok, const char* const* texts, const size_t* lengths, size_t n,
                        const aph_tokenizer_encode_options* opt, int longest) {
    aph_tensor *ids = NULL, *mask = NULL;
    size_t counts[MAX_TEXTS] = {0};
    const aph_status st = fz_status(
        aph_tokenizer_encode(tok, texts, lengths, n, opt, g_cpu, &ids, &mask, NULL, counts, MAX_TEXTS),
        "aph_tokenizer_encode");
    int all_ok = 1;
    static int64_t one[MAX_TEXTS][MAX_IDS];
    size_t one_count[MAX_TEXTS] = {0};
    for (size_t i = 0; i < n; ++i) {
        size_t cnt = 0;
        const aph_status s1 = fz_status(aph_tokenizer_encode_ids(tok, texts[i], lengths[i], opt, NULL, 0, &cnt),
                                        "aph_tokenizer_encode_ids (count)");
        if (s1 != APH_OK) {
            all_ok = 0;
            continue;
        }
        if (cnt > MAX_IDS) {
            all_ok = -1; /* too long to compare */
            continue;
        }
        size_t cnt2 = 0;
        FZ_CHECK(aph_tokenizer_encode_ids(tok, texts[i], lengths[i], opt, one[i], MAX_IDS, &cnt2) == APH_OK,
                 "encode_ids: %s", aph_last_error());
        FZ_CHECK(cnt2 == cnt, "encode_ids counted %zu, then gave %zu ids", cnt, cnt2);
        one_count[i] = cnt;
    }
    if (all_ok == 0) {
        /* Some text fails alone: the batch fails too (the batch may also fail for fixed
         * padding shorter than a text, which encode_ids reports the same way). */
        FZ_CHECK(st != APH_OK, "the batch succeeded though a text of it fails alone");
    } else if (all_ok == 1) {
        FZ_CHECK(st == APH_OK, "the batch failed though each text succeeds alone: %s", aph_last_error());
    }
    if (st == APH_OK && all_ok == 1) {
        const int64_t* shape = aph_tensor_shape(ids);
        FZ_CHECK(aph_tensor_ndim(ids) == 2 && shape[0] == (int64_t)n, "ids tensor is not [count, length]");
        const size_t width = (size_t)shape[1];
        const size_t total = n * width;
        int64_t* v = malloc((total + 1) * sizeof *v);
        int64_t* m = malloc((total + 1) * sizeof *m);
        FZ_CHECK(aph_tensor_to_host(ids, v, total * sizeof *v) == APH_OK, "to_host: %s", aph_last_error());
        FZ_CHECK(aph_tensor_to_host(mask, m, total * sizeof *m) == APH_OK, "to_host: %s", aph_last_error());
        const int64_t vocab = (int64_t)aph_tokenizer_vocab_size(tok);
        for (size_t i = 0; i < n; ++i) {
            const int64_t* row = v + i * width;
            const int64_t* mrow = m + i * width;
            FZ_CHECK(counts[i] <= width, "text %zu has %zu tokens in a row of %zu", i, counts[i], width);
            /* The mask: counts[i] ones in one block, at the start (right padding) or the end. */
            const size_t start = mrow[0] == 1 || counts[i] == 0 ? 0 : width - counts[i];
            for (size_t j = 0; j < width; ++j) {
                const int in = j >= start && j < start + counts[i];
                FZ_CHECK(mrow[j] == in, "mask of text %zu at %zu is %lld", i, j, (long long)mrow[j]);
                FZ_CHECK(!in || (row[j] >= 0 && row[j] < vocab) || aph_tokenizer_id_to_token(tok, row[j]) != NULL,
                         "id %lld of text %zu has no token", (long long)row[j], i);
            }
            if (longest) {
                /* Alone (a batch of one, padded to its own length) the same tokens. */
                FZ_CHECK(one_count[i] == counts[i], "text %zu: %zu ids alone, %zu in the batch", i, one_count[i],
                         counts[i]);
                for (size_t j = 0; j < counts[i]; ++j) {
                    FZ_CHECK(row[start + j] == one[i][j], "text %zu, token %zu: %lld in the batch, %lld alone", i, j,
                             (long long)row[start + j], (long long)one[i][j]);
                }
            }
        }
        free(v);
        free(m);
    }
    aph_tensor_release(ids);
    aph_tensor_release(mask);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    init();
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    data++;
    size--;
    if ((mode & 1) == 0) {
        aph_tokenizer* tok = NULL;
        if (fz_status(aph_tokenizer_load_json((const char*)data, size, &tok), "aph_tokenizer_load_json") != APH_OK) {
            return 0;
        }
        const char* texts[3] = {"Hello, world! unaffable", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 na\xc3\xafve", ""};
        const size_t lengths[3] = {strlen(texts[0]), strlen(texts[1]), 0};
        check_batch(tok, texts, lengths, 3, NULL, 0);
        aph_tokenizer_encode_options opt;
        memset(&opt, 0, sizeof opt);
        opt.struct_size = sizeof opt;
        opt.truncation = APH_TRUNCATION_NONE;
        opt.padding = APH_PADDING_LONGEST;
        check_batch(tok, texts, lengths, 3, &opt, 1);
        (void)aph_tokenizer_token_to_id(tok, "hello");
        (void)aph_tokenizer_id_to_token(tok, 0);
        (void)aph_tokenizer_max_length(tok);
        (void)aph_tokenizer_special_token_count(tok);
        aph_tokenizer_release(tok);
        return 0;
    }
    /* Texts for the fixed tokenizer: mode's bits 1-2 give the count, the rest is cut evenly. */
    const size_t n = 1 + ((mode >> 1) & 3);
    const char* texts[MAX_TEXTS];
    size_t lengths[MAX_TEXTS];
    for (size_t i = 0; i < n; ++i) {
        const size_t a = size * i / n, b = size * (i + 1) / n;
        texts[i] = (const char*)data + a;
        lengths[i] = b - a;
    }
    aph_tokenizer_encode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.truncation = (mode & 8) ? APH_TRUNCATION_FROM_FILE : APH_TRUNCATION_NONE;
    opt.padding = (mode & 16) ? APH_PADDING_FROM_FILE : APH_PADDING_LONGEST;
    opt.no_special_tokens = (mode & 32) != 0;
    check_batch(g_fixed, texts, lengths, n, &opt, opt.padding == APH_PADDING_LONGEST);
    return 0;
}
