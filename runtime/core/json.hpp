// nlohmann::json for libaphelion: include this, never <nlohmann/json.hpp> directly.
//
// It fixes one defect of the library that would take the host process down. Destroying a JSON
// array or object calls json_value::destroy, which flattens the tree into a std::vector so as
// not to recurse; growing that vector allocates, and when the allocation fails the
// std::bad_alloc escapes a noexcept destructor: std::terminate (nlohmann/json issues 4653 and
// 5135, open upstream). Every parsed document, configuration, graph and tokenizer.json would
// abort the process when freed while memory is short (tests/fault/ found it).
//
// The fix is an explicit specialization of that member for nlohmann::json (the only
// instantiation libaphelion uses), declared here so that every translation unit sees it before
// any use: the same algorithm, and when it cannot allocate, a destruction that allocates
// nothing (children emptied depth first; a subtree nested deeper than kMaxDepth is released
// without being walked, rather than risking the stack). Checked against nlohmann/json 3.11.2
// (Debian 12's nlohmann-json3-dev); another version must be checked again (the static_assert).
#pragma once

#include <nlohmann/json.hpp>

#include <new>
#include <vector>

static_assert(NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR == 11 && NLOHMANN_JSON_VERSION_PATCH == 2,
              "runtime/core/json.hpp replaces json_value::destroy of nlohmann/json 3.11.2: check it "
              "against this version's and update the assertion");

namespace aph::json_detail {
constexpr int kMaxDepth = 2048;
}  // namespace aph::json_detail

// The library's algorithm (json.hpp, json_value::destroy), with the fallback above when the
// flattening stack cannot grow.
template <>
inline void nlohmann::json::json_value::destroy(value_t t) {
    if (t == value_t::array || t == value_t::object) {
        bool flattened = false;
        try {
            std::vector<basic_json> stack;
            if (t == value_t::array) {
                stack.reserve(array->size());
                std::move(array->begin(), array->end(), std::back_inserter(stack));
            } else {
                stack.reserve(object->size());
                for (auto&& it : *object) stack.push_back(std::move(it.second));
            }
            while (!stack.empty()) {
                basic_json current_item(std::move(stack.back()));
                stack.pop_back();
                if (current_item.is_array()) {
                    std::move(current_item.m_value.array->begin(), current_item.m_value.array->end(),
                              std::back_inserter(stack));
                    current_item.m_value.array->clear();
                } else if (current_item.is_object()) {
                    for (auto&& it : *current_item.m_value.object) stack.push_back(std::move(it.second));
                    current_item.m_value.object->clear();
                }
            }
            flattened = true;
        } catch (...) {
            // What was moved into the stack was destroyed with it (through this function, so
            // without allocating either); the rest is still in place.
        }
        if (!flattened) {
            // Empties every array and object below this one, depth first, allocating nothing:
            // once an element's children are gone its own destruction has nothing to flatten.
            // Deeper than kMaxDepth a subtree is let go unfreed (a leak, only when memory has
            // run out and the document is nested that deep) rather than risking the stack.
            struct Empty {
                static void children(basic_json& j, int depth) noexcept {
                    if (depth >= aph::json_detail::kMaxDepth) {
                        j.m_type = value_t::null;  // the subtree is leaked, not walked
                        j.m_value = {};
                        return;
                    }
                    if (j.m_type == value_t::array) {
                        for (basic_json& e : *j.m_value.array) {
                            if (e.is_structured()) children(e, depth + 1);
                        }
                        j.m_value.array->clear();
                    } else if (j.m_type == value_t::object) {
                        for (auto& kv : *j.m_value.object) {
                            if (kv.second.is_structured()) children(kv.second, depth + 1);
                        }
                        j.m_value.object->clear();
                    }
                }
            };
            if (t == value_t::array) {
                for (basic_json& e : *array) {
                    if (e.is_structured()) Empty::children(e, 1);
                }
            } else {
                for (auto& kv : *object) {
                    if (kv.second.is_structured()) Empty::children(kv.second, 1);
                }
            }
        }
    }
    switch (t) {
        case value_t::object: {
            std::allocator<object_t> alloc;  // nlohmann::json's AllocatorType
            std::allocator_traits<decltype(alloc)>::destroy(alloc, object);
            std::allocator_traits<decltype(alloc)>::deallocate(alloc, object, 1);
            break;
        }
        case value_t::array: {
            std::allocator<array_t> alloc;  // nlohmann::json's AllocatorType
            std::allocator_traits<decltype(alloc)>::destroy(alloc, array);
            std::allocator_traits<decltype(alloc)>::deallocate(alloc, array, 1);
            break;
        }
        case value_t::string: {
            std::allocator<string_t> alloc;  // nlohmann::json's AllocatorType
            std::allocator_traits<decltype(alloc)>::destroy(alloc, string);
            std::allocator_traits<decltype(alloc)>::deallocate(alloc, string, 1);
            break;
        }
        case value_t::binary: {
            std::allocator<binary_t> alloc;  // nlohmann::json's AllocatorType
            std::allocator_traits<decltype(alloc)>::destroy(alloc, binary);
            std::allocator_traits<decltype(alloc)>::deallocate(alloc, binary, 1);
            break;
        }
        default: break;
    }
}
