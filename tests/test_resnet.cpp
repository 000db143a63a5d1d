// The ResNet family builder: architecture recognition, graph shapes, and clear errors for
// checkpoints that do not fit.
#include <gtest/gtest.h>

#include <cmath>

#include "scratchcv/model.h"
#include "session_test_util.h"

using namespace scv;

TEST(ResNet, DetectsEveryKnownArchitecture) {
  for (const std::string& name : resnet_names()) {
    SCOPED_TRACE(name);
    auto cfg = resnet_config(name);
    ASSERT_TRUE(cfg.ok());
    StateDict sd = random_resnet_weights(*cfg, 1);
    auto found = detect_resnet(sd);
    ASSERT_TRUE(found.ok()) << found.status().message();
    EXPECT_EQ(found->name, name);
    auto g = build_resnet(sd, *found);
    ASSERT_TRUE(g.ok()) << g.status().message();
  }
}

TEST(ResNet, Resnet50GraphAndParameterCount) {
  auto cfg = resnet_config("resnet50");
  ASSERT_TRUE(cfg.ok());
  StateDict sd = random_resnet_weights(*cfg, 7);
  int64_t params = 0;
  for (const auto& nt : sd)
    if (nt.name.find("running_") == std::string::npos) params += nt.tensor.numel();
  EXPECT_EQ(params, 25557032);  // torchvision: sum(p.numel() for p in resnet50().parameters())
  auto g = build_resnet(sd, *cfg);
  ASSERT_TRUE(g.ok());
  int convs = 0, adds = 0;
  for (const Node& n : g->nodes) {
    convs += n.op == OpType::Conv;
    adds += n.op == OpType::Add;
  }
  EXPECT_EQ(convs, 53);
  EXPECT_EQ(adds, 16);
}

TEST(ResNet, Resnet18RunsOnASmallImage) {
  const Graph g = scv::testing::random_resnet("resnet18", 3);
  Tensor x({2, 3, 32, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = float((i * 7919) % 255) / 255.0f - 0.5f;
  auto y = run_reference(g, {x});
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y->at(0).shape(), (Shape{2, 1000}));
  for (int64_t i = 0; i < y->at(0).numel(); ++i) ASSERT_TRUE(std::isfinite(y->at(0)[i]));
}

TEST(ResNet, MissingTensorIsAClearError) {
  auto cfg = resnet_config("resnet18");
  StateDict sd = random_resnet_weights(*cfg, 1);
  sd.erase(sd.begin() + 5);  // bn1.running_var is the 5th tensor; drop the 6th
  auto g = build_resnet(sd, *cfg);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("missing tensor"), std::string::npos) << g.status().message();
}

TEST(ResNet, WrongShapeIsAClearError) {
  auto cfg = resnet_config("resnet18");
  StateDict sd = random_resnet_weights(*cfg, 1);
  for (auto& nt : sd)
    if (nt.name == "layer2.0.conv1.weight") nt.tensor = Tensor({128, 64, 3, 1});
  auto g = build_resnet(sd, *cfg);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("layer2.0.conv1.weight"), std::string::npos);
  EXPECT_NE(g.status().message().find("[128, 64, 3, 1]"), std::string::npos);
}

TEST(ResNet, CheckpointOfAnotherArchitectureIsRejected) {
  auto r18 = resnet_config("resnet18");
  auto r34 = resnet_config("resnet34");
  auto r50 = resnet_config("resnet50");
  StateDict sd34 = random_resnet_weights(*r34, 1);
  auto g = build_resnet(sd34, *r18);  // resnet34 has more blocks than resnet18 expects
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("unexpected tensor"), std::string::npos);
  auto g2 = build_resnet(random_resnet_weights(*r18, 1), *r50);
  ASSERT_FALSE(g2.ok());
  StateDict not_resnet = {{"features.0.weight", Tensor({8, 3, 3, 3})}};
  auto d = detect_resnet(not_resnet);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("not a torchvision ResNet"), std::string::npos);
}
