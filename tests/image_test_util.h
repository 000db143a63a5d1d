// Image comparison shared by the codec and classic-CV tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "scratchcv/image.h"

namespace scv::testing {

// Expects `got` to equal `want` byte for byte; `want_name` says where `want` came from (e.g.
// "PIL"), `what` names the case.
inline void expect_same_image(const Image& got, const Image& want, const std::string& what,
                              const std::string& want_name = "want") {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, want.channels) << what;
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    if (got.pixels[i] != want.pixels[i] && diff++ == 0) first = i;
  EXPECT_EQ(diff, 0u) << what << ": " << diff << " bytes differ, first at byte " << first
                      << " (got " << int(got.pixels[first]) << ", " << want_name << " "
                      << int(want.pixels[first]) << ")";
}

}  // namespace scv::testing
