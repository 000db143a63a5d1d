# explain: gradients, Grad-CAM, CAM and saliency vs PyTorch hooks + autograd on seeded random
# resnet18 and resnet50 and on the bundled TFLite MobileNetV2 (its float graph vs a PyTorch network
# built from its dequantized operators; Debian python3-torch), and the HTML report in headless
# Chromium.
scv_script_test(golden.explain_grads explain_torch.py 900 resnet18:layer2 resnet50:layer3 tflite)
scv_script_test(cli.explain_html explain_html.py 600)
# Training you can watch: mnist train --log/--plot, mnist test --confusion/--errors.
scv_script_test(cli.train_plots train_plots_cli.py 600)
# The book's figures: plot activations vs PyTorch's functions and autograd, bench --ladder --plot.
scv_script_test(cli.plots plot_cli.py 600)
# classify --annotate: photos with their top-3 labels drawn on them.
scv_script_test(cli.classify_annotate annotate_cli.py 600)
