/* test_graph.c — section 17 of aphelion.h: build graphs. Sequential ids, borrowed node views,
 * add_edge's rejection of unknown ids (nothing added), stable_hash against vectors computed
 * independently in Python from hand-written bytes (tests/data/graphs/make_vectors.py), metadata
 * not hashed and insertion order hashed, has_cycle (self-loops, deep graphs without recursion),
 * Kahn's order exactly as aphelion-core's, the cycle error, to_dot's exact text, the serde JSON
 * layout compact and pretty byte for byte, loading a file written as aphelion-framework-rs
 * writes it (hash and bytes back), and every from_json error. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "test_util.h"

#include <unistd.h>

#ifndef APH_TEST_DATA_DIR
#error "APH_TEST_DATA_DIR must name tests/data"
#endif

static aph_model_config* make_config(const char* name, const char* version) {
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_create(name, version, &c));
    return c;
}

static aph_graph* make_graph(void) {
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_create(&g));
    assert_non_null(g);
    return g;
}

/* Adds n nodes "n1".."nN" with an empty configuration "cfg" 1.0.0. */
static void add_plain_nodes(aph_graph* g, int n) {
    aph_model_config* c = make_config("cfg", "1.0.0");
    for (int i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i + 1);
        APH_ASSERT_OK(aph_graph_add_node(g, name, c, NULL));
    }
    aph_model_config_release(c);
}

static void assert_hash(const aph_graph* g, const char* expected) {
    char hex[65];
    memset(hex, 'x', sizeof hex);
    APH_ASSERT_OK(aph_graph_stable_hash(g, hex, sizeof hex));
    assert_string_equal(hex, expected);
}

static char* to_json(const aph_graph* g, int pretty) {
    char* s = NULL;
    APH_ASSERT_OK(aph_graph_to_json(g, pretty, &s));
    assert_non_null(s);
    return s;
}

static aph_graph* from_json(const char* text) {
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_from_json(text, strlen(text), &g));
    assert_non_null(g);
    return g;
}

static void assert_order(const aph_graph* g, const uint64_t* expected, size_t n) {
    uint64_t ids[16];
    assert_true(n <= 16);
    memset(ids, 0xAB, sizeof ids);
    APH_ASSERT_OK(aph_graph_topological_sort(g, ids, 16));
    for (size_t i = 0; i < n; ++i) assert_int_equal(ids[i], expected[i]);
    assert_true(ids[n] == 0xABABABABABABABABULL); /* nothing written past node_count */
}

static void test_nodes_and_edges(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    assert_int_equal(aph_graph_node_count(g), 0);
    assert_int_equal(aph_graph_edge_count(g), 0);

    aph_model_config* c = make_config("transformer", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_int(c, "hidden_size", 256));
    uint64_t id = 0;
    APH_ASSERT_OK(aph_graph_add_node(g, "encoder", c, &id));
    assert_int_equal(id, 1);
    APH_ASSERT_OK(aph_model_config_set_int(c, "hidden_size", 512)); /* the graph keeps a copy */
    APH_ASSERT_OK(aph_graph_add_node(g, "decoder", c, &id));
    assert_int_equal(id, 2);
    APH_ASSERT_OK(aph_graph_add_node(g, "encoder", c, NULL)); /* names need not be unique */
    aph_model_config_release(c);
    assert_int_equal(aph_graph_node_count(g), 3);

    const char* name = NULL;
    const aph_model_config* view = NULL;
    APH_ASSERT_OK(aph_graph_node(g, 1, &name, &view));
    assert_string_equal(name, "encoder");
    int64_t h = 0;
    APH_ASSERT_OK(aph_model_config_get_int(view, "hidden_size", &h));
    assert_int_equal(h, 256);
    assert_string_equal(aph_model_config_name(view), "transformer");
    const aph_model_config* view2 = NULL;
    APH_ASSERT_OK(aph_graph_node(g, 2, NULL, &view2));
    APH_ASSERT_OK(aph_model_config_get_int(view2, "hidden_size", &h));
    assert_int_equal(h, 512);
    APH_ASSERT_OK(aph_graph_node(g, 3, &name, NULL));
    assert_string_equal(name, "encoder");
    const char* name1 = NULL;
    APH_ASSERT_OK(aph_graph_node(g, 1, &name1, NULL));
    /* The name and the view stay valid (same addresses, same contents) while nodes are added,
     * however the graph stores its nodes (0.1 handed out the name inside a node that moved
     * when the node list grew). */
    add_plain_nodes(g, 20);
    const aph_model_config* again = NULL;
    const char* name1_again = NULL;
    APH_ASSERT_OK(aph_graph_node(g, 1, &name1_again, &again));
    assert_ptr_equal(again, view);
    assert_ptr_equal(name1_again, name1);
    assert_string_equal(name1, "encoder");
    APH_ASSERT_OK(aph_model_config_get_int(view, "hidden_size", &h));
    assert_int_equal(h, 256);

    name = "untouched";
    APH_ASSERT_ERR(aph_graph_node(g, 24, &name, NULL), APH_ERR_NOT_FOUND,
                   "not found: no node with id 24 (the graph has 23 nodes)");
    APH_ASSERT_ERR(aph_graph_node(g, 0, &name, NULL), APH_ERR_NOT_FOUND,
                   "not found: no node with id 0 (the graph has 23 nodes)");
    assert_string_equal(name, "untouched");

    uint64_t found = 0;
    APH_ASSERT_OK(aph_graph_find_node(g, "encoder", &found));
    assert_int_equal(found, 1); /* the first of that name */
    APH_ASSERT_OK(aph_graph_find_node(g, "n20", &found));
    assert_int_equal(found, 23);
    APH_ASSERT_ERR(aph_graph_find_node(g, "nope", &found), APH_ERR_NOT_FOUND, "not found: no node named 'nope'");
    assert_int_equal(found, 23);

    /* Edges. */
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 2)); /* self-loops are accepted */
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2)); /* and duplicates */
    assert_int_equal(aph_graph_edge_count(g), 3);
    uint64_t from = 0, to = 0;
    APH_ASSERT_OK(aph_graph_edge(g, 1, &from, &to));
    assert_int_equal(from, 2);
    assert_int_equal(to, 2);
    APH_ASSERT_ERR(aph_graph_edge(g, 3, &from, &to), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: edge index 3 is out of range (the graph has 3 edges)");
    APH_ASSERT_ERR(aph_graph_add_edge(g, 1, 99), APH_ERR_NOT_FOUND,
                   "not found: edge (1, 99) names node 99, but the graph has 23 nodes");
    APH_ASSERT_ERR(aph_graph_add_edge(g, 0, 1), APH_ERR_NOT_FOUND,
                   "not found: edge (0, 1) names node 0, but the graph has 23 nodes");
    APH_ASSERT_ERR(aph_graph_add_edge(g, 30, 40), APH_ERR_NOT_FOUND,
                   "not found: edge (30, 40) names node 30, but the graph has 23 nodes");
    assert_int_equal(aph_graph_edge_count(g), 3);
    aph_graph_release(g);

    g = make_graph();
    add_plain_nodes(g, 1);
    APH_ASSERT_ERR(aph_graph_add_edge(g, 1, 2), APH_ERR_NOT_FOUND,
                   "not found: edge (1, 2) names node 2, but the graph has 1 node");
    aph_graph_release(g);

    /* NULL arguments and handles. */
    assert_int_equal(aph_graph_node_count(NULL), 0);
    assert_int_equal(aph_graph_edge_count(NULL), 0);
    assert_int_equal(aph_graph_has_cycle(NULL), 0);
    aph_graph_release(NULL);
    aph_graph* out = (aph_graph*)0x1;
    APH_ASSERT_ERR(aph_graph_create(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_graph_clone(NULL, &out), APH_ERR_INVALID_ARGUMENT, "invalid argument: graph must not be NULL");
    assert_ptr_equal(out, (aph_graph*)0x1);
    g = make_graph();
    c = make_config("c", "1.0.0");
    APH_ASSERT_ERR(aph_graph_add_node(g, NULL, c, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_graph_add_node(g, "x", NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: config must not be NULL");
    APH_ASSERT_ERR(aph_graph_add_node(NULL, "x", c, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    assert_int_equal(aph_graph_node_count(g), 0);
    char hex[65];
    APH_ASSERT_ERR(aph_graph_stable_hash(NULL, hex, sizeof hex), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    APH_ASSERT_ERR(aph_graph_stable_hash(g, NULL, 65), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    /* Too small a buffer: an error, and nothing written. */
    memset(hex, 'x', sizeof hex);
    APH_ASSERT_ERR(aph_graph_stable_hash(g, hex, 64), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: capacity is 64; the hash needs 65 bytes (64 hex digits and a NUL)");
    for (size_t i = 0; i < sizeof hex; ++i) assert_int_equal(hex[i], 'x');
    APH_ASSERT_ERR(aph_graph_add_edge(NULL, 1, 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    aph_model_config_release(c);
    aph_graph_release(g);
}

static void test_metadata(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    add_plain_nodes(g, 2);
    char* m = NULL;
    APH_ASSERT_OK(aph_graph_node_metadata(g, 1, &m));
    assert_string_equal(m, "{}");
    aph_string_free(m);
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "z", "[1, 2.0]"));
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "a", "\"x\""));
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "z", "{\"k\": null}")); /* replaces */
    APH_ASSERT_OK(aph_graph_node_metadata(g, 1, &m));
    assert_string_equal(m, "{\"a\":\"x\",\"z\":{\"k\":null}}");
    aph_string_free(m);
    APH_ASSERT_ERR(aph_graph_set_metadata(g, 3, "a", "1"), APH_ERR_NOT_FOUND,
                   "not found: no node with id 3 (the graph has 2 nodes)");
    APH_ASSERT_ERR_CONTAINS(aph_graph_set_metadata(g, 1, "a", "[1,"), APH_ERR_SERIALIZATION,
                            "serialization error: metadata 'a': parse error at byte ");
    APH_ASSERT_ERR(aph_graph_node_metadata(g, 9, &m), APH_ERR_NOT_FOUND,
                   "not found: no node with id 9 (the graph has 2 nodes)");
    APH_ASSERT_OK(aph_graph_node_metadata(g, 1, &m));
    assert_string_equal(m, "{\"a\":\"x\",\"z\":{\"k\":null}}"); /* unchanged by the failures */
    aph_string_free(m);
    aph_graph_release(g);
}

/* The vectors below come from make_vectors.py: SHA-256 of hand-written byte strings. */
#define HASH_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HASH_PLAIN "2cc0f7fe3c56b84ecf9e0af038cfa70a432016a12cc2cba004d64b6ba15be019"
#define HASH_REVERSED "a12ec5d23fb7c95869af0ab776f1198e970b8143971e77d35a2f8ed4d83dc5b1"
#define HASH_PLAIN_NOEDGE "a2960410e52c699da35e50fc77d39008af524454e3a182391790882841a8c50c"
#define HASH_FLOATS "34ff3daf3a3faea2f8da7fb32a178e704f9f85cac9f7c441bd1307adb1ff9571"
#define HASH_NESTED "96cf43d76980e06609a7761aa0215fb72d42f9b8d19b5f23141a07943a66c1da"
#define HASH_UNICODE "3b211d19e52d1a23f26f857449393f324b9d5af115a497eb73d6d7193571aaff"
#define HASH_ESCAPES "c77e7c801f9004f20588f8b635b01b955b3967920eb8c169bf1e4c9d842c5a9d"
#define HASH_EXAMPLE "d8719fb404eaa67811a3364b797f46affaf3db7259b367ddaacbb8220802e9d7"

static void add_encoder_decoder(aph_graph* g, int reversed) {
    aph_model_config* enc = make_config("transformer", "1.0.0");
    aph_model_config* dec = make_config("transformer", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_int(dec, "hidden_size", 256));
    if (!reversed) {
        APH_ASSERT_OK(aph_graph_add_node(g, "encoder", enc, NULL));
        APH_ASSERT_OK(aph_graph_add_node(g, "decoder", dec, NULL));
    } else {
        APH_ASSERT_OK(aph_graph_add_node(g, "decoder", dec, NULL));
        APH_ASSERT_OK(aph_graph_add_node(g, "encoder", enc, NULL));
    }
    aph_model_config_release(enc);
    aph_model_config_release(dec);
}

static void test_stable_hash_vectors(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    assert_hash(g, HASH_EMPTY);
    add_encoder_decoder(g, 0);
    assert_hash(g, HASH_PLAIN_NOEDGE);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    assert_hash(g, HASH_PLAIN);
    /* Metadata is not hashed. */
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "stage", "\"input\""));
    APH_ASSERT_OK(aph_graph_set_metadata(g, 2, "x", "[1,2,3]"));
    assert_hash(g, HASH_PLAIN);
    /* A clone hashes the same. */
    aph_graph* copy = NULL;
    APH_ASSERT_OK(aph_graph_clone(g, &copy));
    assert_hash(copy, HASH_PLAIN);
    aph_graph_release(copy);
    aph_graph_release(g);

    /* Insertion order is hashed. */
    g = make_graph();
    add_encoder_decoder(g, 1);
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 1));
    assert_hash(g, HASH_REVERSED);
    aph_graph_release(g);

    /* Floats as serde_json prints them. */
    g = make_graph();
    aph_model_config* c = make_config("floats", "1.0.0");
    const double values[] = {0.1, 1.0, 1e-7, 1e16, 1.5e16, 123456.0, -0.0, 5e-324, 1.7976931348623157e308, 0.3};
    for (int i = 0; i < 10; ++i) {
        char key[2] = {(char)('a' + i), 0};
        APH_ASSERT_OK(aph_model_config_set_float(c, key, values[i]));
    }
    APH_ASSERT_OK(aph_graph_add_node(g, "f", c, NULL));
    aph_model_config_release(c);
    assert_hash(g, HASH_FLOATS);
    aph_graph_release(g);

    /* Nested objects (keys sorted bytewise at every level) and arrays. */
    g = make_graph();
    c = make_config("nest", "0.1.0");
    APH_ASSERT_OK(aph_model_config_set_json(
        c, "nested", "{\"\xc3\xa9\": 1, \"a\": {\"z\": [1, 2.5, \"x\"], \"B\": null}, \"B\": true}"));
    APH_ASSERT_OK(aph_model_config_set_json(c, "arr", "[1, -2, 2.5, \"x\", true, false, null, [], {}]"));
    APH_ASSERT_OK(aph_graph_add_node(g, "n", c, NULL));
    aph_model_config_release(c);
    assert_hash(g, HASH_NESTED);
    aph_graph_release(g);

    /* Unicode names and strings. */
    g = make_graph();
    c = make_config("\xc3\xa9", "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_string(c, "lang", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
    APH_ASSERT_OK(aph_graph_add_node(g, "\xe6\x97\xa5\xe6\x9c\xac", c, NULL));
    aph_model_config_release(c);
    assert_hash(g, HASH_UNICODE);
    aph_graph_release(g);

    /* Escapes: the node name is hashed raw, the configuration as escaped JSON. */
    g = make_graph();
    const char* raw = "q\"b\\n\nc\x01t\tx\x7f\x08\x0c\r\x1f";
    c = make_config(raw, "1.0.0");
    APH_ASSERT_OK(aph_model_config_set_string(c, "k", raw));
    APH_ASSERT_OK(aph_graph_add_node(g, raw, c, NULL));
    aph_model_config_release(c);
    assert_hash(g, HASH_ESCAPES);
    aph_graph_release(g);
}

static void test_has_cycle(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    assert_int_equal(aph_graph_has_cycle(g), 0);
    add_plain_nodes(g, 3);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 3));
    assert_int_equal(aph_graph_has_cycle(g), 0);
    APH_ASSERT_OK(aph_graph_add_edge(g, 3, 1));
    assert_int_equal(aph_graph_has_cycle(g), 1);
    aph_graph_release(g);

    g = make_graph();
    add_plain_nodes(g, 2);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 2)); /* self-loop */
    assert_int_equal(aph_graph_has_cycle(g), 1);
    uint64_t ids[2];
    APH_ASSERT_ERR(aph_graph_topological_sort(g, ids, 2), APH_ERR_BUILD,
                   "build error: Cannot perform topological sort: graph contains a cycle");
    aph_graph_release(g);

    /* A cycle only reachable from a later node, and a node revisited from another root. */
    g = make_graph();
    add_plain_nodes(g, 4);
    APH_ASSERT_OK(aph_graph_add_edge(g, 4, 1));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 3, 2));
    assert_int_equal(aph_graph_has_cycle(g), 1);
    aph_graph_release(g);
}

static void test_deep_graph(void** state) {
    (void)state;
    /* A chain of 100000 nodes: a recursive DFS would need 100000 frames. */
    enum { N = 100000 };
    aph_graph* g = make_graph();
    add_plain_nodes(g, N);
    for (uint64_t i = N; i > 1; --i) APH_ASSERT_OK(aph_graph_add_edge(g, i - 1, i));
    assert_int_equal(aph_graph_has_cycle(g), 0);
    uint64_t* ids = malloc(N * sizeof *ids);
    assert_non_null(ids);
    APH_ASSERT_OK(aph_graph_topological_sort(g, ids, N));
    for (uint64_t i = 0; i < N; ++i) assert_true(ids[i] == i + 1);
    APH_ASSERT_OK(aph_graph_add_edge(g, N, 1));
    assert_int_equal(aph_graph_has_cycle(g), 1);
    APH_ASSERT_ERR(aph_graph_topological_sort(g, ids, N), APH_ERR_BUILD,
                   "build error: Cannot perform topological sort: graph contains a cycle");
    free(ids);
    aph_graph_release(g);
}

static void test_topological_sort(void** state) {
    (void)state;
    /* Diamond: 1 -> 2, 1 -> 3, 2 -> 4, 3 -> 4. */
    aph_graph* g = make_graph();
    add_plain_nodes(g, 4);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 4));
    APH_ASSERT_OK(aph_graph_add_edge(g, 3, 4));
    assert_order(g, (const uint64_t[]){1, 2, 3, 4}, 4);
    aph_graph_release(g);

    /* The same diamond with the edges inserted the other way round. */
    g = make_graph();
    add_plain_nodes(g, 4);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 3, 4));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 4));
    assert_order(g, (const uint64_t[]){1, 3, 2, 4}, 4);
    aph_graph_release(g);

    /* Several roots, seeded in insertion order, and an isolated node. */
    g = make_graph();
    add_plain_nodes(g, 6);
    APH_ASSERT_OK(aph_graph_add_edge(g, 4, 1));
    APH_ASSERT_OK(aph_graph_add_edge(g, 5, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 3));
    /* roots 4, 5, 6 -> 4 (frees 1), 5 (frees 2), 6, 1, 2 (frees 3), 3 */
    assert_order(g, (const uint64_t[]){4, 5, 6, 1, 2, 3}, 6);
    /* Duplicate edges count twice in the in-degree. */
    APH_ASSERT_OK(aph_graph_add_edge(g, 6, 1));
    APH_ASSERT_OK(aph_graph_add_edge(g, 6, 1));
    assert_order(g, (const uint64_t[]){4, 5, 6, 2, 1, 3}, 6);

    uint64_t ids[6] = {0};
    APH_ASSERT_ERR(aph_graph_topological_sort(g, ids, 5), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: capacity is 5, but the graph has 6 nodes");
    assert_int_equal(ids[0], 0);
    APH_ASSERT_ERR(aph_graph_topological_sort(g, NULL, 6), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_ids must not be NULL");
    APH_ASSERT_ERR(aph_graph_topological_sort(NULL, ids, 6), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    aph_graph_release(g);

    /* The empty graph sorts to nothing. */
    g = make_graph();
    APH_ASSERT_OK(aph_graph_topological_sort(g, NULL, 0));
    aph_graph_release(g);

    /* A loaded graph's edge naming no node is reported by the sort. */
    g = from_json("{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\",\"params\":{}}}],"
                  "\"edges\":[[1,9]]}");
    assert_int_equal(aph_graph_has_cycle(g), 0);
    APH_ASSERT_ERR(aph_graph_topological_sort(g, ids, 6), APH_ERR_GRAPH,
                   "graph error: edge (1, 9) names node 9, but the graph has 1 node");
    aph_graph_release(g);
    /* ... and a cycle through unknown ids is still a cycle (as aphelion-core finds it). */
    g = from_json("{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\",\"params\":{}}}],"
                  "\"edges\":[[1,9],[9,7],[7,9]]}");
    assert_int_equal(aph_graph_has_cycle(g), 1);
    aph_graph_release(g);
}

static void test_to_dot(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    char* dot = NULL;
    APH_ASSERT_OK(aph_graph_to_dot(g, &dot));
    assert_string_equal(dot, "digraph BuildGraph {\n}\n");
    aph_string_free(dot);

    aph_model_config* c = make_config("cfg", "1.0.0");
    APH_ASSERT_OK(aph_graph_add_node(g, "input", c, NULL));
    APH_ASSERT_OK(aph_graph_add_node(g, "say \"hi\"", c, NULL));
    APH_ASSERT_OK(aph_graph_add_node(g, "C:\\path \xc3\xa9", c, NULL));
    aph_model_config_release(c);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_add_edge(g, 2, 3));
    APH_ASSERT_OK(aph_graph_add_edge(g, 3, 3));
    APH_ASSERT_OK(aph_graph_to_dot(g, &dot));
    assert_string_equal(dot, "digraph BuildGraph {\n"
                             "    \"1\" [label=\"input\"];\n"
                             "    \"2\" [label=\"say \\\"hi\\\"\"];\n"
                             "    \"3\" [label=\"C:\\\\path \xc3\xa9\"];\n"
                             "    \"1\" -> \"2\";\n"
                             "    \"2\" -> \"3\";\n"
                             "    \"3\" -> \"3\";\n"
                             "}\n");
    aph_string_free(dot);
    APH_ASSERT_ERR(aph_graph_to_dot(g, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    aph_graph_release(g);
}

#define COMPACT_TWO                                                                                          \
    "{\"nodes\":[{\"id\":1,\"name\":\"encoder\",\"config\":{\"name\":\"transformer\",\"version\":\"1.0.0\"," \
    "\"params\":{}},\"metadata\":{\"stage\":\"input\",\"w\":[1,2.5]}},{\"id\":2,\"name\":\"decoder\","       \
    "\"config\":{\"name\":\"transformer\",\"version\":\"1.0.0\",\"params\":{\"hidden_size\":256}},"          \
    "\"metadata\":{}}],\"edges\":[[1,2]]}"

#define PRETTY_TWO                         \
    "{\n"                                  \
    "  \"nodes\": [\n"                     \
    "    {\n"                              \
    "      \"id\": 1,\n"                   \
    "      \"name\": \"encoder\",\n"       \
    "      \"config\": {\n"                \
    "        \"name\": \"transformer\",\n" \
    "        \"version\": \"1.0.0\",\n"    \
    "        \"params\": {}\n"             \
    "      },\n"                           \
    "      \"metadata\": {\n"              \
    "        \"stage\": \"input\",\n"      \
    "        \"w\": [\n"                   \
    "          1,\n"                       \
    "          2.5\n"                      \
    "        ]\n"                          \
    "      }\n"                            \
    "    },\n"                             \
    "    {\n"                              \
    "      \"id\": 2,\n"                   \
    "      \"name\": \"decoder\",\n"       \
    "      \"config\": {\n"                \
    "        \"name\": \"transformer\",\n" \
    "        \"version\": \"1.0.0\",\n"    \
    "        \"params\": {\n"              \
    "          \"hidden_size\": 256\n"     \
    "        }\n"                          \
    "      },\n"                           \
    "      \"metadata\": {}\n"             \
    "    }\n"                              \
    "  ],\n"                               \
    "  \"edges\": [\n"                     \
    "    [\n"                              \
    "      1,\n"                           \
    "      2\n"                            \
    "    ]\n"                              \
    "  ]\n"                                \
    "}"

static void test_json_layout_and_round_trip(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    char* s = to_json(g, 0);
    assert_string_equal(s, "{\"nodes\":[],\"edges\":[]}");
    aph_string_free(s);
    s = to_json(g, 1);
    assert_string_equal(s, "{\n  \"nodes\": [],\n  \"edges\": []\n}");
    aph_string_free(s);

    add_encoder_decoder(g, 0);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "w", "[1, 2.5]"));
    APH_ASSERT_OK(aph_graph_set_metadata(g, 1, "stage", "\"input\""));
    s = to_json(g, 0);
    assert_string_equal(s, COMPACT_TWO);
    aph_string_free(s);
    s = to_json(g, 1);
    assert_string_equal(s, PRETTY_TWO);
    aph_string_free(s);
    /* pretty is a boolean: any non-zero value is the pretty layout. */
    s = to_json(g, 2);
    assert_string_equal(s, PRETTY_TWO);
    aph_string_free(s);
    s = to_json(g, -1);
    assert_string_equal(s, PRETTY_TWO);
    aph_string_free(s);
    aph_graph_release(g);

    /* load -> save gives back the same bytes, compact and pretty; either loads to the other. */
    const char* texts[] = {COMPACT_TWO, PRETTY_TWO};
    for (int pretty = 0; pretty < 2; ++pretty) {
        g = from_json(texts[pretty]);
        assert_hash(g, "2cc0f7fe3c56b84ecf9e0af038cfa70a432016a12cc2cba004d64b6ba15be019");
        for (int p = 0; p < 2; ++p) {
            s = to_json(g, p);
            assert_string_equal(s, texts[p]);
            aph_graph* back = from_json(s);
            char* s2 = to_json(back, p);
            assert_string_equal(s2, s);
            aph_string_free(s2);
            aph_graph_release(back);
            aph_string_free(s);
        }
        const char* name = NULL;
        const aph_model_config* cfg = NULL;
        APH_ASSERT_OK(aph_graph_node(g, 2, &name, &cfg));
        assert_string_equal(name, "decoder");
        int64_t h = 0;
        APH_ASSERT_OK(aph_model_config_get_int(cfg, "hidden_size", &h));
        assert_int_equal(h, 256);
        aph_graph_release(g);
    }

    /* Any key order and whitespace; metadata may be absent; unknown fields are ignored. */
    g = from_json(
        " { \"edges\" : [ [1 ,2] ] , \"x\": 0, \"nodes\" : [ {\"config\": {\"params\": {\"hidden_size\": 256},"
        " \"version\": \"1.0.0\", \"name\": \"transformer\"}, \"name\": \"decoder\", \"id\": 1},"
        "{\"name\":\"encoder\",\"id\":2,\"config\":{\"name\":\"transformer\",\"version\":\"1.0.0\"}}]}\n");
    s = to_json(g, 0);
    assert_string_equal(s, "{\"nodes\":[{\"id\":1,\"name\":\"decoder\",\"config\":{\"name\":\"transformer\","
                           "\"version\":\"1.0.0\",\"params\":{\"hidden_size\":256}},\"metadata\":{}},"
                           "{\"id\":2,\"name\":\"encoder\",\"config\":{\"name\":\"transformer\",\"version\":\"1.0.0\","
                           "\"params\":{}},\"metadata\":{}}],\"edges\":[[1,2]]}");
    aph_string_free(s);
    aph_graph_release(g);

    /* len bounds the text: what follows is not read. */
    const char* padded = "{\"nodes\":[],\"edges\":[]}garbage";
    APH_ASSERT_OK(aph_graph_from_json(padded, strlen(padded) - 7, &g));
    assert_int_equal(aph_graph_node_count(g), 0);
    aph_graph_release(g);
}

static void test_from_json_errors(void** state) {
    (void)state;
    struct {
        const char* json;
        const char* message;
    } cases[] = {
        {"[]", "serialization error: graph: expected an object"},
        {"{\"edges\":[]}", "serialization error: nodes: missing field"},
        {"{\"nodes\":[]}", "serialization error: edges: missing field"},
        {"{\"nodes\":{},\"edges\":[]}", "serialization error: nodes: expected an array"},
        {"{\"nodes\":[],\"edges\":{}}", "serialization error: edges: expected an array"},
        {"{\"nodes\":[1],\"edges\":[]}", "serialization error: nodes[0]: expected an object"},
        {"{\"nodes\":[{\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].id: missing field"},
        {"{\"nodes\":[{\"id\":\"1\",\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].id: expected an unsigned integer"},
        {"{\"nodes\":[{\"id\":1.0,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].id: expected an unsigned integer"},
        {"{\"nodes\":[{\"id\":-1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].id: expected an unsigned integer"},
        {"{\"nodes\":[{\"id\":2,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].id: expected 1 (node ids are 1, 2, 3, ... in order), got 2"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}},"
         "{\"id\":1,\"name\":\"b\",\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[1].id: expected 2 (node ids are 1, 2, 3, ... in order), got 1"},
        {"{\"nodes\":[{\"id\":1,\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].name: missing field"},
        {"{\"nodes\":[{\"id\":1,\"name\":7,\"config\":{\"name\":\"c\",\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].name: expected a string"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\"}],\"edges\":[]}", "serialization error: nodes[0].config: missing field"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":[]}],\"edges\":[]}",
         "serialization error: nodes[0].config: expected an object"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}},"
         "{\"id\":2,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"}},"
         "{\"id\":3,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":1}}],\"edges\":[]}",
         "serialization error: nodes[2].config.version: expected a string"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"version\":\"1\"}}],\"edges\":[]}",
         "serialization error: nodes[0].config.name: missing field"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\",\"params\":null}}],"
         "\"edges\":[]}",
         "serialization error: nodes[0].config.params: expected an object"},
        {"{\"nodes\":[{\"id\":1,\"name\":\"a\",\"config\":{\"name\":\"c\",\"version\":\"1\"},\"metadata\":[]}],"
         "\"edges\":[]}",
         "serialization error: nodes[0].metadata: expected an object"},
        {"{\"nodes\":[],\"edges\":[1]}", "serialization error: edges[0]: expected a two-element array [from, to]"},
        {"{\"nodes\":[],\"edges\":[[1,2],[1,2,3]]}",
         "serialization error: edges[1]: expected a two-element array [from, to]"},
        {"{\"nodes\":[],\"edges\":[[1]]}", "serialization error: edges[0]: expected a two-element array [from, to]"},
        {"{\"nodes\":[],\"edges\":[[-1,2]]}", "serialization error: edges[0][0]: expected an unsigned integer"},
        {"{\"nodes\":[],\"edges\":[[1,\"2\"]]}", "serialization error: edges[0][1]: expected an unsigned integer"},
        {"{\"nodes\":[],\"edges\":[[1,2.0]]}", "serialization error: edges[0][1]: expected an unsigned integer"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        aph_graph* out = (aph_graph*)0x1;
        aph_status st = aph_graph_from_json(cases[k].json, strlen(cases[k].json), &out);
        if (st != APH_ERR_SERIALIZATION || strcmp(aph_last_error(), cases[k].message) != 0)
            print_error("case %zu: %s: %s\n", k, aph_status_name(st), aph_last_error());
        APH_ASSERT_ERR(st, APH_ERR_SERIALIZATION, cases[k].message);
        assert_ptr_equal(out, (aph_graph*)0x1);
    }

    /* Malformed JSON names the byte. */
    aph_graph* out = (aph_graph*)0x1;
    const char* bad = "{\"nodes\": [], \"edges\": [,]}";
    APH_ASSERT_ERR(aph_graph_from_json(bad, strlen(bad), &out), APH_ERR_SERIALIZATION,
                   "serialization error: graph JSON: parse error at byte 25: syntax error while parsing "
                   "value - unexpected ','; expected '[', '{', or a literal");
    APH_ASSERT_ERR_CONTAINS(aph_graph_from_json("", 0, &out), APH_ERR_SERIALIZATION,
                            "serialization error: graph JSON: parse error at byte 1: ");
    /* The position is 1-based: the 25th byte here, one past the end for a truncated text. */
    const char* trailing = "{\"nodes\":[],\"edges\":[]} x";
    APH_ASSERT_ERR_CONTAINS(aph_graph_from_json(trailing, strlen(trailing), &out), APH_ERR_SERIALIZATION,
                            "serialization error: graph JSON: parse error at byte 25: ");
    APH_ASSERT_ERR_CONTAINS(aph_graph_from_json(trailing, 10, &out), APH_ERR_SERIALIZATION,
                            "serialization error: graph JSON: parse error at byte 11: ");
    assert_ptr_equal(out, (aph_graph*)0x1);
    APH_ASSERT_ERR(aph_graph_from_json(NULL, 0, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: json must not be NULL");
    APH_ASSERT_ERR(aph_graph_from_json("{}", 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");

    /* Edges naming unknown nodes load (as aphelion-core accepts them). */
    const char* dangling = "{\"nodes\":[],\"edges\":[[0,18446744073709551615]]}";
    APH_ASSERT_OK(aph_graph_from_json(dangling, strlen(dangling), &out));
    uint64_t from = 1, to = 0;
    APH_ASSERT_OK(aph_graph_edge(out, 0, &from, &to));
    assert_int_equal(from, 0);
    assert_true(to == UINT64_MAX);
    char* s = to_json(out, 0);
    assert_string_equal(s, dangling);
    aph_string_free(s);
    aph_graph_release(out);
}

static char* read_all(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    assert_non_null(f);
    char* buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void test_example_file(void** state) {
    (void)state;
    const char* path = APH_TEST_DATA_DIR "/graphs/example_pretty.json";
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_load(path, &g));
    assert_int_equal(aph_graph_node_count(g), 3);
    assert_int_equal(aph_graph_edge_count(g), 3);
    assert_hash(g, HASH_EXAMPLE);

    const aph_model_config* cfg = NULL;
    const char* name = NULL;
    APH_ASSERT_OK(aph_graph_node(g, 3, &name, &cfg));
    assert_string_equal(name, "d\xc3\xa9"
                              "codeur \"main\"");
    APH_ASSERT_OK(aph_graph_node(g, 2, &name, &cfg));
    double lr = 0;
    APH_ASSERT_OK(aph_model_config_get_float(cfg, "lr", &lr));
    assert_true(lr == 3e-5);
    uint64_t order[3];
    APH_ASSERT_OK(aph_graph_topological_sort(g, order, 3));
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);

    /* Saving writes the file's bytes back. */
    size_t len = 0;
    char* original = read_all(path, &len);
    char* text = to_json(g, 1);
    assert_int_equal(strlen(text), len);
    assert_memory_equal(text, original, len);
    aph_string_free(text);

    char dir[] = "/tmp/aph_test_graph_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out_path[256];
    snprintf(out_path, sizeof out_path, "%s/saved.json", dir);
    APH_ASSERT_OK(aph_graph_save(g, out_path));
    size_t saved_len = 0;
    char* saved = read_all(out_path, &saved_len);
    assert_int_equal(saved_len, len);
    assert_memory_equal(saved, original, len);
    free(saved);

    /* The compact form loads to the same hash. */
    text = to_json(g, 0);
    aph_graph* back = from_json(text);
    assert_hash(back, HASH_EXAMPLE);
    aph_graph_release(back);
    aph_string_free(text);

    /* I/O errors name the path and the system's reason. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    char expected[400];
    snprintf(expected, sizeof expected, "I/O error: %s: No such file or directory", missing);
    aph_graph* out = (aph_graph*)0x1;
    APH_ASSERT_ERR(aph_graph_load(missing, &out), APH_ERR_IO, expected);
    assert_ptr_equal(out, (aph_graph*)0x1);
    char bad_dir[300];
    snprintf(bad_dir, sizeof bad_dir, "%s/no/such/dir.json", dir);
    snprintf(expected, sizeof expected, "I/O error: %s: No such file or directory", bad_dir);
    APH_ASSERT_ERR(aph_graph_save(g, bad_dir), APH_ERR_IO, expected);
    /* A file that is not a graph. */
    FILE* f = fopen(missing, "wb");
    assert_non_null(f);
    fputs("{\"nodes\": 3, \"edges\": []}", f);
    fclose(f);
    APH_ASSERT_ERR(aph_graph_load(missing, &out), APH_ERR_SERIALIZATION,
                   "serialization error: nodes: expected an array");
    APH_ASSERT_ERR(aph_graph_load(NULL, &out), APH_ERR_INVALID_ARGUMENT, "invalid argument: path must not be NULL");
    APH_ASSERT_ERR(aph_graph_save(NULL, out_path), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    unlink(missing);
    unlink(out_path);
    rmdir(dir);
    free(original);
    aph_graph_release(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodes_and_edges),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_stable_hash_vectors),
        cmocka_unit_test(test_has_cycle),
        cmocka_unit_test(test_deep_graph),
        cmocka_unit_test(test_topological_sort),
        cmocka_unit_test(test_to_dot),
        cmocka_unit_test(test_json_layout_and_round_trip),
        cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
