"""The teaching maths and live demos: convolution, recurrent cells, inside a CNN, live training, the shortcut lesson."""
