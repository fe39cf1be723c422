// The resolved spec in a versioned binary form (msgpack), stored with every execution at submit.
// A restarted coordinator decodes it instead of parsing the YAML again, so a change of the YAML
// parser or of its validation rules can never make a running execution unresumable.
//
// Contract: DecodeSpec(EncodeSpec(s)) == s field by field. Every version ever written stays
// decodable: a new field gets a new key with a default for documents that lack it; an
// incompatible change bumps kSpecCodecVersion and keeps the old decoder.
#pragma once

#include <string>
#include <string_view>

#include "common/spec.h"
#include "common/status.h"

namespace fanout {

inline constexpr int kSpecCodecVersion = 1;

std::string EncodeSpec(const Spec& spec);
// Fails with kInvalidArgument on bytes that are not an encoded spec of a known version.
Result<Spec> DecodeSpec(std::string_view bytes);

}  // namespace fanout
