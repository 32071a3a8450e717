# The GPU tests, included by tests/CMakeLists.txt. gpu_parity is built by cuda/CMakeLists.txt
# when ZERORL_CUDA is ON; it exits 77 (skipped) on machines without a CUDA device.
if(NOT TARGET gpu_parity)
  return()
endif()
add_test(NAME gpu.parity COMMAND gpu_parity)
set_tests_properties(gpu.parity PROPERTIES LABELS gpu TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${ZR_TEST_ENV}")
if(TARGET gpu_dist)
  add_test(NAME gpu.dist COMMAND gpu_dist)
  set_tests_properties(gpu.dist PROPERTIES LABELS gpu TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${ZR_TEST_ENV}")
endif()
