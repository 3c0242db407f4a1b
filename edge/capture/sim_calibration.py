"""The simulator's default device calibration: a real Azure Kinect DK factory calibration.

This is the ``calibration.json`` attachment of a real k4arecorder file (device serial
001514394512, k4arecord 1.4.1): the test recording ``tests/assets/recording.mkv`` of the pyk4a
project (github.com/etiennedub/pyk4a, MIT licence), kept verbatim as data so that the simulator
renders with a real camera's intrinsics, lens distortion, depth->color and depth->IMU extrinsics
without needing that file at run time. ``fieldcoach`` reads the same file through ``MkvSource``
(see tests/test_sim_source.py, which checks that both give the same calibration).
"""

from __future__ import annotations

from functools import lru_cache

from calibration.kinect import KinectCalibration, parse_calibration_json

DEPTH_MODE = "NFOV_UNBINNED"
COLOR_RESOLUTION = "720P"

CALIBRATION_JSON = (
    '{"CalibrationInformation":{"Cameras":[{"Intrinsics":{"ModelParameterCount":14,"ModelParameters":'
    '[0.51296979188919067,0.51692354679107666,0.4927808940410614,0.49290284514427185,0.54793977737426'
    '758,-0.020971370860934258,-0.0026522316038608551,0.88967907428741455,0.086130209267139435,-0.013'
    '910384848713875,0,0,-7.2104157879948616E-5,2.0557534298859537E-5],"ModelType":"CALIBRATION_LensD'
    'istortionModelBrownConrady"},"Location":"CALIBRATION_CameraLocationD0","Purpose":"CALIBRATION_Ca'
    'meraPurposeDepth","MetricRadius":1.7399997711181641,"Rt":{"Rotation":[1,0,0,0,1,0,0,0,1],"Transl'
    'ation":[0,0,0]},"SensorHeight":1024,"SensorWidth":1024,"Shutter":"CALIBRATION_ShutterTypeUndefin'
    'ed","ThermalAdjustmentParams":{"Params":[0,0,0,0,0,0,0,0,0,0,0,0]}},{"Intrinsics":{"ModelParamet'
    'erCount":14,"ModelParameters":[0.49984714388847351,0.50661760568618774,0.47796511650085449,0.637'
    '42393255233765,0.33012130856513977,-2.4893965721130371,1.453670859336853,0.20891207456588745,-2.'
    '302915096282959,1.3751275539398193,0,0,-0.00012944525224156678,-0.00016178244550246745],"ModelTy'
    'pe":"CALIBRATION_LensDistortionModelBrownConrady"},"Location":"CALIBRATION_CameraLocationPV0","P'
    'urpose":"CALIBRATION_CameraPurposePhotoVideo","MetricRadius":0,"Rt":{"Rotation":[0.9999992251396'
    '1792,0.0011817576596513391,-0.00044814043212682009,-0.0011387512786313891,0.99628061056137085,0.'
    '0861603245139122,0.0005482942215166986,-0.086159750819206238,0.9962812066078186],"Translation":['
    '-0.032083429396152496,-0.0022053730208426714,0.0038836926687508821]},"SensorHeight":3072,"Sensor'
    'Width":4096,"Shutter":"CALIBRATION_ShutterTypeUndefined","ThermalAdjustmentParams":{"Params":[0,'
    '0,0,0,0,0,0,0,0,0,0,0]}}],"InertialSensors":[{"BiasTemperatureModel":[-0.00038840249180793762,0,'
    '0,0,0.0066333282738924026,0,0,0,0.0011737601598724723,0,0,0],"BiasUncertainty":[9.99999974737875'
    '16E-5,9.9999997473787516E-5,9.9999997473787516E-5],"Id":"CALIBRATION_InertialSensorId_LSM6DSM","'
    'MixingMatrixTemperatureModel":[0.99519604444503784,0,0,0,0.0019702909048646688,0,0,0,-0.00029000'
    '110225751996,0,0,0,0.0019510588608682156,0,0,0,1.00501549243927,0,0,0,0.0030893723014742136,0,0,'
    '0,-0.00028924690559506416,0,0,0,0.0031117112375795841,0,0,0,0.99779671430587769,0,0,0],"ModelTyp'
    'eMask":16,"Noise":[0.00095000001601874828,0.00095000001601874828,0.00095000001601874828,0,0,0],"'
    'Rt":{"Rotation":[0.0018387800082564354,0.11238107085227966,-0.993663489818573,-0.999994933605194'
    '09,-0.002381625585258007,-0.0021198526956140995,-0.0026047658175230026,0.99366235733032227,0.112'
    '37611621618271],"Translation":[0,0,0]},"SecondOrderScaling":[0,0,0,0,0,0,0,0,0],"SensorType":"CA'
    'LIBRATION_InertialSensorType_Gyro","TemperatureBounds":[5,60],"TemperatureC":0},{"BiasTemperatur'
    'eModel":[0.1411108672618866,0,0,0,0.0053673363290727139,0,0,0,-0.42933177947998047,0,0,0],"BiasU'
    'ncertainty":[0.0099999997764825821,0.0099999997764825821,0.0099999997764825821],"Id":"CALIBRATIO'
    'N_InertialSensorId_LSM6DSM","MixingMatrixTemperatureModel":[0.99946749210357666,0,0,0,3.02610405'
    '92449717E-5,0,0,0,-0.00310571794398129,0,0,0,3.0574858101317659E-5,0,0,0,0.98919963836669922,0,0'
    ',0,0.00054294260917231441,0,0,0,-0.0031195830088108778,0,0,0,0.00053976889466866851,0,0,0,0.9950'
    '25634765625,0,0,0],"ModelTypeMask":56,"Noise":[0.010700000450015068,0.010700000450015068,0.01070'
    '0000450015068,0,0,0],"Rt":{"Rotation":[0.0019369830843061209,0.1084766760468483,-0.9940971136093'
    '14,-0.99999403953552246,-0.0026388836558908224,-0.0022364303003996611,-0.0028659072704613209,0.9'
    '94095504283905,0.10847091674804688],"Translation":[-0.0509832426905632,0.0034723200369626284,0.0'
    '013277813559398055]},"SecondOrderScaling":[0,0,0,0,0,0,0,0,0],"SensorType":"CALIBRATION_Inertial'
    'SensorType_Accelerometer","TemperatureBounds":[5,60],"TemperatureC":0}],"Metadata":{"SerialId":"'
    '001514394512","FactoryCalDate":"11/9/2019 10:32:12 AM GMT","Version":{"Major":1,"Minor":2},"Devi'
    'ceName":"AzureKinect-PV","Notes":"PV0_max_radius_invalid"}}}'
)


@lru_cache(maxsize=1)
def default_calibration() -> KinectCalibration:
    """NFOV unbinned depth (640x576) and 720p color intrinsics of the stored device calibration."""
    return parse_calibration_json(CALIBRATION_JSON, DEPTH_MODE, COLOR_RESOLUTION)
