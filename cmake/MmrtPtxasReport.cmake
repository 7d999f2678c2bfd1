# Gathers the per-object nvcc logs of the CUDA module (OBJ.ptxas.txt, cmake/MmrtNvccReport.cmake)
# into one report, run after the module links:
#   cmake -DOBJ_DIR=<dir of the objects> -DREPORT=<file> -P MmrtPtxasReport.cmake
# The report keeps ptxas's lines per object (registers, barriers, shared memory, stack, spills for
# every kernel and architecture); tools/ptxas-summary.sh turns it into a table.
file(GLOB_RECURSE logs "${OBJ_DIR}/*.ptxas.txt")
list(SORT logs)
set(text "")
foreach(log IN LISTS logs)
  file(READ "${log}" body)
  string(APPEND text "== ${log}\n${body}\n")
endforeach()
file(WRITE "${REPORT}" "${text}")
