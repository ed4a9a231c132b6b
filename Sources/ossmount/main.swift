// ossmount: mount an OSS bucket as a local directory.
import Foundation
import OSSMountCLI

exit(OSSMount.main(Array(CommandLine.arguments.dropFirst())))
